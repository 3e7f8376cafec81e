# pcp-remote-read container image: a static binary on distroless, run as an
# unprivileged user. Build with `make image` (docker build), e.g.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t pcp-remote-read .
# deployments/image_test.go checks this file and that the binary is static.

# The Go release series of go.mod's go directive.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
ARG VERSION=dev
WORKDIR /src
# Dependencies first, so that source edits reuse the downloaded modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary, no libc needed in the final image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/pcp-remote-read ./cmd/pcp-remote-read && \
    mkdir -p /out/pmlogger

# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pcp-remote-read /pcp-remote-read
# The default archive directory exists (empty) so that the image starts,
# serving nothing, until archives are mounted there.
COPY --from=build --chown=65532:65532 /out/pmlogger /var/log/pcp/pmlogger
ENV PCP_ARCHIVE_DIR=/var/log/pcp/pmlogger
USER 65532:65532
EXPOSE 9201
ENTRYPOINT ["/pcp-remote-read"]
# Arguments replace this path; with none, $PCP_ARCHIVE_DIR is served.
CMD ["/var/log/pcp/pmlogger"]
