package gateway_test

import (
	"slices"
	"strings"
	"testing"
)

// TestFHIRSearchSort sorts a search by clinical date both ways, pages the
// sorted result with _sort kept in the links, and refuses a key it does
// not know.
func TestFHIRSearchSort(t *testing.T) {
	f := startFHIRNet(t, nil)
	tok, pid := f.patientAndToken(t)
	for _, d := range []string{"2024-03-01", "2024-01-01", "2024-02-01"} {
		f.expect(t, f.do(t, "POST", "/Observation", tok, observation("Patient/"+pid, "8302-2", d)), 201, "")
	}
	dates := func(r fhirResponse) []string {
		var out []string
		for _, e := range r.entries() {
			if d, ok := e["resource"].(map[string]any)["effectiveDateTime"].(string); ok {
				out = append(out, d)
			}
		}
		return out
	}
	asc := f.do(t, "GET", "/Observation?patient="+pid+"&_sort=date", tok, nil)
	f.expect(t, asc, 200, "")
	if got := dates(asc); !slices.Equal(got, []string{"2024-01-01", "2024-02-01", "2024-03-01"}) {
		t.Errorf("_sort=date: %v", got)
	}
	desc := f.do(t, "GET", "/Observation?patient="+pid+"&_sort=-date", tok, nil)
	if got := dates(desc); !slices.Equal(got, []string{"2024-03-01", "2024-02-01", "2024-01-01"}) {
		t.Errorf("_sort=-date: %v", got)
	}
	page := f.do(t, "GET", "/Observation?patient="+pid+"&_sort=-date&_count=1&_offset=1", tok, nil)
	if got := dates(page); !slices.Equal(got, []string{"2024-02-01"}) || page.total() != 3 {
		t.Errorf("second page of one: %v of %d", got, page.total())
	}
	if !strings.Contains(string(page.raw), "_sort=-date") {
		t.Errorf("the page links lose _sort: %s", page.raw)
	}
	f.expect(t, f.do(t, "GET", "/Observation?patient="+pid+"&_sort=color", tok, nil), 400, "invalid")
	if ev := f.do(t, "GET", "/Patient/"+pid+"/$everything?_sort=-date", tok, nil); !slices.Equal(dates(ev), []string{"2024-03-01", "2024-02-01", "2024-01-01"}) {
		t.Errorf("$everything sorted: %s", ev.raw)
	}
}
