package status

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pcp-remote-read/pcp-remote-read/multiarchive"
)

type fixedStatus multiarchive.Status

func (f fixedStatus) Status() multiarchive.Status { return multiarchive.Status(f) }

// The status page shows why column tables are disabled, in HTML and JSON.
func TestStatusTableProblem(t *testing.T) {
	src := fixedStatus{Tables: multiarchive.TableStats{Dir: "/ro/tables", Problem: "mkdir /ro/tables: read-only file system"}}
	h := NewStatusHandler(src)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	page := rec.Body.String()
	if !strings.Contains(page, `class="bad">Column tables disabled: cache directory /ro/tables is unusable (mkdir /ro/tables: read-only file system)`) {
		t.Errorf("HTML page lacks the problem:\n%s", page)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status?format=json", nil))
	var st struct {
		Tables struct{ Dir, Problem string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Tables.Problem != src.Tables.Problem || st.Tables.Dir != "/ro/tables" {
		t.Errorf("JSON: %v %+v\n%s", err, st, rec.Body.String())
	}

	for tables, want := range map[multiarchive.TableStats]string{
		{Dir: "/c", Loaded: 2, Built: 3}: "Column tables in /c: 2 loaded, 3 built",
		{}:                               "Column tables off",
	} {
		rec = httptest.NewRecorder()
		NewStatusHandler(fixedStatus{Tables: tables}).ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
		if body := rec.Body.String(); !strings.Contains(body, want) || strings.Contains(body, "disabled") {
			t.Errorf("tables %+v: page lacks %q:\n%s", tables, want, body)
		}
	}
}
