package promapi

import "github.com/pcp-remote-read/pcp-remote-read/adapter"

// The common error kinds and status of adapter, by their short names.
const (
	errKindBadRequest         = adapter.ErrKindBadRequest
	errKindLimit              = adapter.ErrKindLimit
	errKindInternal           = adapter.ErrKindInternal
	errKindCanceled           = adapter.ErrKindCanceled
	statusClientClosedRequest = adapter.StatusClientClosedRequest
)
