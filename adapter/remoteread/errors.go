package remoteread

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// httpError is a failure decided before the first response byte: the status
// code, the metric kind and the one-line reason the client shows verbatim
// (docs/remote-read-protocol.md §10).
type httpError struct {
	status int
	kind   string
	msg    string
	err    error // underlying cause, for logs and errors.Is; may be nil
	// unread: the request body was refused before its end, which the
	// client may still be sending (see lingerClose).
	unread bool
}

func (e *httpError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *httpError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, kind: errKindBadRequest, msg: fmt.Sprintf(format, args...)}
}

func limitExceeded(status int, format string, args ...any) *httpError {
	return &httpError{status: status, kind: errKindLimit, msg: fmt.Sprintf(format, args...)}
}

// internalError wraps a storage or I/O failure. The client sees the cause too:
// it only ends up in a warning on the Prometheus side, and it is the one
// thing that tells the user which archive is broken.
func internalError(err error, format string, args ...any) *httpError {
	return &httpError{status: http.StatusInternalServerError, kind: errKindInternal, msg: fmt.Sprintf(format, args...), err: err}
}

// classify turns any error into an httpError. Errors caused by the request's
// context being done are the client's doing (it disconnected or its
// remote_timeout expired), not a storage failure.
func classify(ctx context.Context, err error) *httpError {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return &httpError{status: statusClientClosedRequest, kind: errKindCanceled, msg: "request canceled", err: err}
	}
	if he, ok := errors.AsType[*httpError](err); ok {
		return he
	}
	// The storage's own sample budget: the client asked for too much.
	if le, ok := errors.AsType[*translate.LimitError](err); ok {
		return limitExceeded(http.StatusBadRequest, "%s", le.Error())
	}
	return internalError(err, "internal error")
}

// annotate prefixes an internal failure with where it happened. Errors meant
// for the client (limits, bad requests) keep their exact wording.
func annotate(err error, format string, args ...any) error {
	he, ok := errors.AsType[*httpError](err)
	if !ok {
		return internalError(err, format, args...)
	}
	if he.kind != errKindInternal {
		return he
	}
	annotated := *he
	annotated.msg = fmt.Sprintf(format, args...) + ": " + he.msg
	return &annotated
}
