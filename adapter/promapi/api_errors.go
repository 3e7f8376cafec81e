package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/prometheus/promql"

	"github.com/pcp-remote-read/pcp-remote-read/translate"
)

// Prometheus' errorType values (web/api/v1/api.go,
// docs/remote-read-protocol.md §13.2).
const (
	errorBadData  = "bad_data"
	errorExec     = "execution"
	errorCanceled = "canceled"
	errorTimeout  = "timeout"
	errorInternal = "internal"
)

// apiError is a failed API request: Prometheus' errorType and the cause,
// whose text is the envelope's "error".
type apiError struct {
	typ string
	err error
}

// status is Prometheus' getDefaultErrorCode.
func (e *apiError) status() int {
	switch e.typ {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return statusClientClosedRequest
	case errorTimeout:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError // internal
}

// kind is the Metrics.Errors label: whose fault it was.
func (e *apiError) kind() string {
	switch e.typ {
	case errorBadData:
		return errKindBadRequest
	case errorCanceled:
		return errKindCanceled
	case errorTimeout:
		return errKindLimit
	case errorExec:
		var tooMany promql.ErrTooManySamples
		if errors.As(e.err, &tooMany) {
			return errKindLimit
		}
		if _, ok := errors.AsType[*translate.LimitError](e.err); ok {
			return errKindLimit
		}
		return errKindBadRequest // e.g. many-to-many matching, duplicate series
	}
	return errKindInternal
}

func badData(err error) *apiError { return &apiError{errorBadData, err} }

// invalidParam is Prometheus' invalidParamError.
func invalidParam(err error, param string) apiResult {
	return apiResult{err: badData(fmt.Errorf("invalid parameter %q: %w", param, err))}
}

// engineError is Prometheus' returnAPIError: how an engine or storage
// error maps to an errorType (docs/remote-read-protocol.md §13.2).
func engineError(err error) *apiError {
	var canceled promql.ErrQueryCanceled
	var timeout promql.ErrQueryTimeout
	var stor promql.ErrStorage
	switch {
	case errors.As(err, &canceled):
		return &apiError{errorCanceled, err}
	case errors.As(err, &timeout):
		return &apiError{errorTimeout, err}
	case errors.As(err, &stor):
		return &apiError{errorInternal, err}
	case errors.Is(err, context.Canceled):
		return &apiError{errorCanceled, err}
	}
	return &apiError{errorExec, err}
}
