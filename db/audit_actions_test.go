package db_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"linkdesk/db"
)

// TestAuditActions_EveryConstantCatalogued reads the source of the whole
// module: every constant of package db named Action… whose value is an
// action code, and every string literal handed to appendAudit as the
// action, must have a line in the catalogue (db.AuditActions). Another
// feature adding an action without its line fails here.
func TestAuditActions_EveryConstantCatalogued(t *testing.T) {
	catalogued := map[string]bool{}
	for _, a := range db.AuditActions {
		if catalogued[a.Code] {
			t.Errorf("action %s is catalogued twice", a.Code)
		}
		catalogued[a.Code] = true
		if _, ok := db.AuditGroupOf(a.Group); !ok {
			t.Errorf("action %s: unknown group %q", a.Code, a.Group)
		}
		if !strings.Contains(a.Template, "{actor}") {
			t.Errorf("action %s: the sentence %q does not say who acted", a.Code, a.Template)
		}
	}
	found := 0
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				if f.Name.Name != "db" {
					return true
				}
				for i, name := range n.Names {
					if !strings.HasPrefix(name.Name, "Action") || i >= len(n.Values) {
						continue
					}
					lit, ok := n.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					code, _ := strconv.Unquote(lit.Value)
					if !strings.Contains(code, ".") {
						continue
					}
					found++
					if !catalogued[code] {
						t.Errorf("%s: %s = %q has no line in db.AuditActions (db/audit_actions.go)", fset.Position(name.Pos()), name.Name, code)
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "appendAudit" || len(n.Args) < 4 {
					return true
				}
				if lit, ok := n.Args[3].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					code, _ := strconv.Unquote(lit.Value)
					if !catalogued[code] {
						t.Errorf("%s: appendAudit with the uncatalogued action %q", fset.Position(lit.Pos()), code)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 20 {
		t.Fatalf("found only %d action constants: the scan is broken", found)
	}
}

func TestAuditEntry_Sentence(t *testing.T) {
	for _, tc := range []struct {
		e    db.AuditEntry
		want string
	}{
		{db.AuditEntry{Action: db.ActionPIIRevealed, ActorEmail: "olga@example.com", ActorName: "Olga", TargetType: "account", TargetID: "acc-1"},
			"Olga (olga@example.com) revealed masked identity fields of account acc-1"},
		{db.AuditEntry{Action: db.ActionStaffUpdated, ActorEmail: "a@example.com", TargetType: "staff", TargetID: "3", TargetName: "Ann"},
			"a@example.com changed staff member Ann"},
		{db.AuditEntry{Action: db.ActionSignIn, ActorEmail: "a@example.com", TargetType: "staff", TargetID: "3"}, "a@example.com signed in"},
		{db.AuditEntry{Action: "future.thing", ActorEmail: "system", TargetType: "widget", TargetID: "w1"}, "system did future.thing on widget w1"},
	} {
		if got := tc.e.SentenceText(); got != tc.want {
			t.Errorf("sentence of %s: got %q, want %q", tc.e.Action, got, tc.want)
		}
	}
}
