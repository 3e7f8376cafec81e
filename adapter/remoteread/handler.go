package remoteread

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

// ReadPath is where remote-read servers conventionally listen
// (docs/remote-read-protocol.md §1). The handler itself does not look at the
// path, so it can be mounted anywhere.
const ReadPath = "/api/v1/read"

// Content types of the two response kinds. 3.x clients match the streamed one
// by exact prefix, including the space after ';'
// (docs/remote-read-protocol.md §5.1), and refuse a SAMPLES body under any
// other type (docs/remote-read-protocol.md §4).
const (
	ContentTypeSamples  = "application/x-protobuf"
	ContentTypeStreamed = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
)

type readHandler struct {
	queryable storage.SampleAndChunkQueryable
	opts      adapter.ReadOptions
	log       *slog.Logger
	metrics   *adapter.Metrics
	gate      *gate
	// frameBufs recycles the frame buffers of streamed answers (*[]byte):
	// the frames held back before the first write take up to
	// streamBuffer, and growing that anew for every request would cost
	// more than the rest of a short query.
	frameBufs sync.Pool
	// The buffers of a finished SAMPLES answer, for the next one.
	samplesMu   sync.Mutex
	samplesKept *samplesWire
}

// NewReadHandler returns the remote-read handler (POST, conventionally at
// ReadPath) over q, the project's single storage path. A nil logger discards
// logs; nil metrics are created unregistered. It fails on invalid options
// rather than building a handler that hangs or misbehaves later.
func NewReadHandler(q storage.SampleAndChunkQueryable, opts adapter.ReadOptions, logger *slog.Logger, m *adapter.Metrics) (http.Handler, error) {
	if q == nil {
		return nil, errors.New("remote-read handler: nil queryable")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("remote-read handler: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		var err error
		if m, err = adapter.NewMetrics(nil); err != nil {
			return nil, fmt.Errorf("remote-read handler: %w", err)
		}
	}
	m.InitHandler(handlerRead, responseTypeSamples, responseTypeStreamed)
	return &readHandler{
		queryable: q,
		opts:      opts,
		log:       logger.With("handler", handlerRead),
		metrics:   m,
		gate:      newGate(opts.MaxConcurrent, opts.MaxQueueWait),
	}, nil
}

func (h *readHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	inFlight := h.metrics.InFlight.WithLabelValues(handlerRead)
	inFlight.Inc()
	defer inFlight.Dec()

	code := h.serve(w, r)

	h.metrics.Requests.WithLabelValues(handlerRead, strconv.Itoa(code)).Inc()
	h.metrics.RequestDuration.WithLabelValues(handlerRead).Observe(time.Since(start).Seconds())
}

// serve answers one request and returns the status code it sent.
func (h *readHandler) serve(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.fail(w, r, &httpError{
			status: http.StatusMethodNotAllowed, kind: errKindBadRequest,
			msg: fmt.Sprintf("method %s not allowed; remote read uses POST", r.Method),
		})
	}
	if err := checkContentType(r); err != nil {
		return h.fail(w, r, err)
	}
	release, err := h.gate.acquire(r.Context())
	if err != nil {
		return h.fail(w, r, err)
	}
	defer release()

	data, err := readRequestBody(w, r, h.opts.MaxRequestBytes)
	if err != nil {
		code := h.fail(w, r, err)
		if he, ok := errors.AsType[*httpError](err); ok && he.unread {
			lingerClose(w, 4*h.opts.MaxRequestBytes, lingerTime)
		}
		return code
	}
	rt, queries, err := parseReadRequest(data, h.opts.MaxQueriesPerRequest, h.opts.ExternalLabels)
	if err != nil {
		return h.fail(w, r, err)
	}

	// Queriers stay open until the response is written: labels and chunk
	// bytes handed out by Select may point into memory the querier owns.
	var open openQueriers
	defer open.closeAll(h.log)

	if rt == prompb.ReadRequest_STREAMED_XOR_CHUNKS {
		return h.serveStreamed(w, r, queries, &open)
	}
	return h.serveSamples(w, r, queries, &open)
}

// fail logs err at a level matching whose fault it is, counts it and writes it
// as a one-line plain-text body. Only call it before the first body byte.
func (h *readHandler) fail(w http.ResponseWriter, r *http.Request, err error) int {
	he := classify(r.Context(), err)
	h.metrics.Errors.WithLabelValues(handlerRead, he.kind).Inc()
	attrs := []any{"status", he.status, "kind", he.kind, "err", he.Error(), "remote", r.RemoteAddr}
	switch he.kind {
	case errKindInternal:
		h.log.Error("remote read failed", attrs...)
	case errKindLimit:
		// Not a server fault, but an operator may need to raise a limit.
		h.log.Info("remote read refused", attrs...)
	default:
		h.log.Debug("remote read rejected", attrs...)
	}
	// Prometheus shows the body verbatim as one line
	// (docs/remote-read-protocol.md §10). The length is set so that the answer
	// is complete even when lingerClose takes the connection over after it.
	// (http.Error would drop it.)
	msg := strings.ReplaceAll(he.Error(), "\n", "; ") + "\n"
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(he.status)
	io.WriteString(w, msg)
	return he.status
}

// lingerTime bounds how long lingerClose reads a refused body.
const lingerTime = 10 * time.Second

// lingerClose ends a connection whose request body was refused before its
// end, after the answer, without a reset. Closing with unread data makes
// the kernel send a TCP reset, which can reach the client before it has
// read the answer (a client uploading 64 MiB against the 32 MiB limit
// would get a reset, not the 413). So the connection is taken over, the
// answer flushed, our side shut for writing (the client sees the answer
// end), and what the client still sends is read and dropped, up to max
// bytes or wait, before the connection is closed. Over HTTP/2 there is no
// connection to take over, and the server's own stream reset is clean.
func lingerClose(w http.ResponseWriter, max int64, wait time.Duration) {
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	conn, buf, err := rc.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if err := buf.Flush(); err != nil {
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	conn.SetDeadline(time.Now().Add(wait))
	io.CopyN(io.Discard, buf, max)
}

// openQueriers collects the queriers of one request so they can be closed
// after the response is out.
type openQueriers []storage.LabelQuerier

func (o *openQueriers) add(q storage.LabelQuerier) { *o = append(*o, q) }

func (o *openQueriers) closeAll(log *slog.Logger) {
	for _, q := range *o {
		if err := q.Close(); err != nil {
			log.Warn("close querier", "err", err)
		}
	}
}
