// Package promapi is the Prometheus HTTP query API of pcp-remote-read
// (under /api/v1/, docs/remote-read-protocol.md §13): the part Grafana
// calls, answered by an embedded PromQL engine over the same storage as
// remote read (adapter/remoteread). It shares its metrics, error kinds and
// request bounds with remote read through package adapter.
package promapi
