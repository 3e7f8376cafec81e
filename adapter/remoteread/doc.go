// Package remoteread is the remote-read front end of pcp-remote-read: it serves the
// Prometheus remote-read protocol (POST /api/v1/read) on top of the project's
// single storage path, a storage.SampleAndChunkQueryable built in translate/.
//
// The handler is written on prompb, snappy, gogo/protobuf and tsdb/chunkenc
// only; storage/remote and config are deliberately not imported because they
// drag in cloud SDKs and k8s (docs/remote-read-protocol.md §12), and because
// Prometheus' own handler splits large series across frames, which 3.x
// clients do not stitch back together (docs/remote-read-protocol.md §11).
//
// Everything that can fail is decided before the first response byte
// (decoding, matchers, storage errors, sample and frame budgets, sorting),
// because a status code sent before the body only becomes a warning on the
// client while an error mid-stream fails the whole PromQL query
// (docs/remote-read-protocol.md §10).
package remoteread
