package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"linkdesk/pinwheel/sandbox"
)

// TestLinkdesk_NeverBranchesOnErrorCodes keeps Linkdesk's own code (the
// client in pinwheel/ and its callers) independent of error codes: Pinwheel
// documents one API error code (docs/pinwheel.md#errors), so code that
// compares an error's Code, or names a code the emulator invents, would work
// against the emulator and break against Pinwheel. Codes may be shown and
// stored; decisions go by type and HTTP status.
func TestLinkdesk_NeverBranchesOnErrorCodes(t *testing.T) {
	invented := append(append([]string{}, sandbox.EmulatorOnlyCodes...), sandbox.EmulatorOnlyLinkCodes...)
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch {
			case path == ".":
			case path == filepath.Join("pinwheel", "sandbox"), strings.HasPrefix(d.Name(), "."), d.Name() == "node_modules", d.Name() == "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		isCode := func(e ast.Expr) bool {
			sel, ok := e.(*ast.SelectorExpr)
			return ok && sel.Sel.Name == "Code"
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.BinaryExpr:
				// Whether there is a code at all (== "") decides only what
				// to show.
				empty := func(e ast.Expr) bool { l, ok := e.(*ast.BasicLit); return ok && l.Value == `""` }
				if (x.Op == token.EQL || x.Op == token.NEQ) && (isCode(x.X) && !empty(x.Y) || isCode(x.Y) && !empty(x.X)) {
					t.Errorf("%s: compares an error code", fset.Position(x.Pos()))
				}
			case *ast.SwitchStmt:
				if x.Tag != nil && isCode(x.Tag) {
					t.Errorf("%s: switches on an error code", fset.Position(x.Pos()))
				}
			case *ast.BasicLit:
				if x.Kind == token.STRING {
					s, _ := strconv.Unquote(x.Value)
					for _, c := range invented {
						if strings.Contains(s, c) {
							t.Errorf("%s: names the emulator-only code %s", fset.Position(x.Pos()), c)
						}
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
	if files < 50 {
		t.Fatalf("checked only %d files", files)
	}
}
