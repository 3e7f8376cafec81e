package promapi

import (
	"fmt"
	"net/http"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
)

// checkAPIRequest applies the bounds of adapter/limits.go to the PromQL
// expression and the series selectors of a query API request.
func (a *api) checkAPIRequest(r *http.Request) *apiError {
	if q := r.FormValue("query"); q != "" {
		if err := adapter.CheckQueryText(q); err != nil {
			return badData(fmt.Errorf("invalid parameter %q: %w", "query", err))
		}
	}
	for _, s := range r.Form["match[]"] {
		if err := adapter.CheckQueryText(s); err != nil {
			return badData(fmt.Errorf("invalid parameter %q: %w", "match[]", err))
		}
	}
	return nil
}
