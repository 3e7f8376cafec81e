# pcp-remote-read: serve PCP archives to Prometheus and Grafana.
GO       ?= go
BIN      := bin/pcp-remote-read
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
CORPUS   ?= ../shared/corpus/pcp-qa
FUZZTIME ?= 1m
export CGO_ENABLED ?= 0

PROM_VERSION = $(shell $(GO) list -m -f '{{.Version}}' github.com/prometheus/prometheus)
# The Thanos the end-to-end tests run as sidecar and query (make thanos).
THANOS_VERSION = v0.42.4
DEMO     ?= testdata/demo
LISTEN   ?= :9201
# RUN_URL is where make run's server answers: a LISTEN without a host
# (":9201") or on every address (0.0.0.0) is reached on 127.0.0.1.
RUN_URL   = http://$(patsubst 0.0.0.0:%,127.0.0.1:%,$(patsubst :%,127.0.0.1:%,$(LISTEN)))

.PHONY: all build run test test-short deps testdata corpus-check bench fuzz vet clean prometheus3 thanos soak image deploy-check

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/pcp-remote-read

# run serves the bundled demo archives on the default port.
run: build
	@echo "Serving $(DEMO) on $(LISTEN). In prometheus.yml:"
	@echo "  remote_read:"
	@echo "    - url: $(RUN_URL)/api/v1/read"
	@echo "      read_recent: true"
	@echo "      filter_external_labels: false"
	./$(BIN) --web.listen-address=$(LISTEN) $(DEMO)

# prometheus3 builds Prometheus 3.x from the prometheus module version in
# go.mod, in a throwaway module so its many dependencies stay out of ours.
# The end-to-end tests use it as the remote-read client that asks for
# streamed chunks (Debian's 2.42 only asks for samples).
prometheus3: bin/prometheus-$(PROM_VERSION)
	@ln -sf prometheus-$(PROM_VERSION) bin/prometheus3
bin/prometheus-$(PROM_VERSION):
	@mkdir -p bin
	@echo "building Prometheus $(PROM_VERSION) for the end-to-end tests (once; a few minutes)"
	@d=$$(mktemp -d) && cd $$d && $(GO) mod init prometheus3-build >/dev/null 2>&1 && \
		GOFLAGS=-mod=mod $(GO) get github.com/prometheus/prometheus/cmd/prometheus@$(PROM_VERSION) >/dev/null 2>&1 && \
		GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) build -tags remove_all_sd -o $(abspath $@) github.com/prometheus/prometheus/cmd/prometheus && \
		cd / && rm -rf $$d

# thanos builds Thanos from its module the same way, for the end-to-end
# test of pcp-remote-read as a Thanos store (a sidecar per instance, one
# thanos query over them). Thanos' go.mod has replace directives, which a
# module depending on it does not inherit: they are copied from that
# go.mod into the throwaway one. Its releases are built with the
# slicelabels tag (its .promu.yml), and its label conversions depend on
# it: without, the sidecar panics on its first gRPC answer.
thanos: bin/thanos-$(THANOS_VERSION)
	@ln -sf thanos-$(THANOS_VERSION) bin/thanos
bin/thanos-$(THANOS_VERSION):
	@mkdir -p bin
	@echo "building Thanos $(THANOS_VERSION) for the end-to-end tests (once; a few minutes)"
	@d=$$(mktemp -d) && cd $$d && $(GO) mod init thanos-build >/dev/null 2>&1 && \
		mod=$$($(GO) mod download -json github.com/thanos-io/thanos@$(THANOS_VERSION) | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$$/\1/p') && \
		test -f "$$mod" && sed -n '/^replace (/,/^)/p; /^replace [^(]/p' "$$mod" >> go.mod && \
		GOFLAGS=-mod=mod $(GO) get github.com/thanos-io/thanos/cmd/thanos@$(THANOS_VERSION) >/dev/null 2>&1 && \
		GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) build -tags netgo,slicelabels -o $(abspath $@) github.com/thanos-io/thanos/cmd/thanos && \
		cd / && rm -rf $$d

# deps installs what the end-to-end tests use (PCP's libpcp tools and
# python3-pcp, Prometheus 2.42, headless Chromium for the status page's
# screenshots) when they are missing and we are root.
# SYSTEMD_OFFLINE keeps pcp's postinst from calling systemctl on machines
# without systemd.
deps:
	@if command -v pminfo >/dev/null && /usr/bin/python3 -c 'import pcp.pmapi' 2>/dev/null && command -v prometheus >/dev/null && command -v chromium >/dev/null; then \
		echo "deps: pcp, python3-pcp, prometheus and chromium present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && \
		SYSTEMD_OFFLINE=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pcp python3-pcp prometheus chromium xz-utils zstd bzip2 >/dev/null; \
	else \
		echo "deps: install pcp python3-pcp prometheus chromium (apt-get) to run the end-to-end tests"; \
	fi

test: deps vet prometheus3 thanos deploy-check
	$(GO) test -count=1 -timeout 20m ./...

# image builds the container image (Dockerfile: static binary on
# distroless, user 65532, port 9201). IMAGE=registry.example.com/pcp-remote-read
# to tag it for a registry.
IMAGE    ?= pcp-remote-read
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .

# deploy-check tests deployments/ (its own Go module): every Kubernetes
# manifest decodes strictly, every kustomize overlay builds, the example
# prometheus.yml files pass promtool, the Dockerfile and the static binary.
deploy-check:
	cd deployments && $(GO) vet ./... && $(GO) test -count=1 ./...

# soak is the long load test: 32 clients mixing remote read and PromQL over
# the demo set for 60 s (make test runs 8 clients for 5 s).
SOAK_CLIENTS  ?= 32
SOAK_DURATION ?= 60s
soak:
	$(GO) test -count=1 -timeout 10m -run '^TestLoad$$' -v ./cmd/pcp-remote-read/ \
		-load.clients=$(SOAK_CLIENTS) -load.duration=$(SOAK_DURATION)

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l .; echo "gofmt: files above need formatting"; exit 1)

# testdata regenerates the archives in testdata/archives with real pmlogger
# and their libpcp dumps (needs PCP and root to run pmcd).
testdata:
	bash testdata/gen/make-testdata.sh

# corpus-check compares our reading of every archive in the shared PCP QA
# corpus with libpcp's dump of it: the records (archive, multiarchive) and
# the series a query gets (translate: samples and chunks, read directly,
# through column tables and through a prefix table plus the records after
# it). A developer check; CI has no corpus.
corpus-check:
	@$(GO) test -count=1 -timeout 30m -run 'TestOracle|TestSelectMatchesLibpcp' ./archive/ ./multiarchive/ ./translate/ -corpus $(abspath $(CORPUS)) -v 2>&1 | \
		awk '/identical to libpcp/ { split($$(NF-3), f, "/"); same += f[1]; total += f[2] } /^(---|    ---) FAIL|_test.go/ { print } \
		END { printf "%d/%d archives identical\n", same, total; exit (same != total || total == 0) }' 

# bench runs the side-by-side benchmarks of issue #6 (bench/: decode against
# libpcp, remote read, PromQL and memory against Prometheus 3.x over the same
# data backfilled into its TSDB; corpus and TSDB made once into bench/cache/,
# results in bench/results/), then the Go benchmarks of archive/.
# BENCH_SCALE=small for a quick corpus; BENCH_REV=HEAD to measure the last
# commit instead of the working tree. See bench/README.md.
bench: prometheus3
	$(GO) run ./bench/cmd/benchrun
	$(GO) test -run '^$$' -bench . -benchmem ./archive/

# bench-scale runs the multiarchive scale benchmarks of issue #3 over a
# directory of 10,000 small archives written by libpcp's pmi writer
# (testdata/gen/make-scale.py: made once into bench/cache/, gitignored, in a
# few seconds, and reused). See "Benchmarks" in README.md.
SCALE_DIR ?= bench/cache/scale-n10000-s1
.PHONY: bench-scale
bench-scale:
	/usr/bin/python3 testdata/gen/make-scale.py $(SCALE_DIR)
	PCP_SCALE_DIR=$(abspath $(SCALE_DIR)) $(GO) test -count=1 -timeout 30m -run '^$$' -bench Scale -benchmem ./multiarchive/

fuzz:
	for t in FuzzXZ FuzzLZMA2; do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1000x ./internal/xz/ || exit 1; \
	done
	for t in FuzzLabel FuzzMeta FuzzRecord FuzzSameLayout FuzzArchive FuzzFloats; do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1000x ./archive/ || exit 1; \
	done

clean:
	rm -rf bin
