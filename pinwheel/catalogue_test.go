package pinwheel

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCatalogue_HasEveryEventConstant: every Event… constant of this
// package names a catalogue entry, so an event type cannot be declared
// without saying what Linkdesk does with it; and JobEvent finds the event
// of every job event in the catalogue.
func TestCatalogue_HasEveryEventConstant(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(node ast.Node) bool {
			vs, ok := node.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Event") || len(name.Name) == len("Event") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				n++
				if _, ok := LookupEvent(v); !ok {
					t.Errorf("%s = %q is not in the catalogue (catalogue.go)", name.Name, v)
				}
			}
			return true
		})
	}
	if n != len(Events) {
		t.Errorf("%d event constants, %d catalogue entries", n, len(Events))
	}
	for _, e := range Events {
		if e.Job != "" && strings.HasSuffix(e.Name, ".added") && e.Name == e.Job+".added" && JobEvent(e.Job) != e.Name {
			t.Errorf("JobEvent(%q) = %q, want %q", e.Job, JobEvent(e.Job), e.Name)
		}
	}
	if FetchAfter(EventDDSwitchAdded, OutcomeError) != "" || FetchAfter(EventDDSwitchAdded, OutcomeSuccess) != JobDDAllocations {
		t.Error("a switch fetches the allocations after a success only")
	}
}
