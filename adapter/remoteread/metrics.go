package remoteread

import "github.com/pcp-remote-read/pcp-remote-read/adapter"

// The "handler" label of remote read.
const handlerRead = "read"

// Values of the "response_type" label.
const (
	responseTypeSamples  = "samples"
	responseTypeStreamed = "streamed_xor_chunks"
)

// The common error kinds and status of adapter, by their short names.
const (
	errKindBadRequest         = adapter.ErrKindBadRequest
	errKindLimit              = adapter.ErrKindLimit
	errKindInternal           = adapter.ErrKindInternal
	errKindCanceled           = adapter.ErrKindCanceled
	statusClientClosedRequest = adapter.StatusClientClosedRequest
)
