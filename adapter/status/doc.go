// Package status serves the archive sets' status page (JSON or HTML) and
// exports their figures on /metrics. It reads them through StatusSource,
// one method that *multiarchive.Set implements, so tests and embedders can
// hand it any fixed Status.
package status
