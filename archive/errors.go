package archive

import (
	"errors"
	"fmt"
)

// FormatError reports bad bytes in an archive file: which file, at what byte
// offset, in which record, and what was wrong.
type FormatError struct {
	File   string // path of the file, as opened
	Offset int64  // byte offset of the record (or field) in the decompressed file
	Record string // record kind, e.g. "data record", "DESC", "label"
	Msg    string
}

func (e *FormatError) Error() string {
	if e.Record != "" {
		return fmt.Sprintf("%s: offset %d: %s: %s", e.File, e.Offset, e.Record, e.Msg)
	}
	return fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
}

func formatErr(file string, off int64, rec, format string, args ...any) error {
	return &FormatError{File: file, Offset: off, Record: rec, Msg: fmt.Sprintf(format, args...)}
}

// ErrNoData means an archive has nothing to read yet: a label-only data volume
// or a .meta without descriptors (libpcp's PM_ERR_NODATA).
var ErrNoData = errors.New("archive has no data")
