package remoteread

import (
	"fmt"

	"github.com/gogo/protobuf/proto"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// EncodeReadRequest encodes req as a Prometheus client sends it: protobuf in
// a snappy block (docs/remote-read-protocol.md §2.1). For tests and end-to-end
// checks.
func EncodeReadRequest(req *prompb.ReadRequest) ([]byte, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("marshal ReadRequest: %w", err)
	}
	return snappy.Encode(nil, data), nil
}

// DecodeReadResponse decodes a SAMPLES response body
// (docs/remote-read-protocol.md §4). For tests and end-to-end checks.
func DecodeReadResponse(body []byte) (*prompb.ReadResponse, error) {
	data, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("snappy-decode ReadResponse: %w", err)
	}
	var resp prompb.ReadResponse
	if err := proto.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("unmarshal ReadResponse: %w", err)
	}
	return &resp, nil
}
