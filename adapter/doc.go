// Package adapter is the base the HTTP front ends of pcp-remote-read
// share: the metrics of every handler and their common error kinds, the
// bounds on what one request may make the server compute (limits.go), the
// remote-read options (options.go) and the stall timeout every connection
// gets (stall.go).
//
// The front ends are in its subpackages: remoteread serves the
// Prometheus remote-read protocol (POST /api/v1/read), promapi the
// Prometheus HTTP query API Grafana calls, and status the status page and
// the archive sets' metrics.
package adapter
