package smart

import (
	"os"
	"strings"
	"testing"
)

// TestDocsNameEveryReason keeps docs/smart.md's tables in step with the
// reasons clients can receive.
func TestDocsNameEveryReason(t *testing.T) {
	b, err := os.ReadFile("../../docs/smart.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Reasons() {
		if !strings.Contains(string(b), "`"+string(r)+"`") {
			t.Errorf("docs/smart.md does not mention reason `%s`", r)
		}
	}
}
