package pipeline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Limits that keep the pipeline readable in one sitting: no function
// longer than maxLines, none with more than maxParams parameters.
const (
	maxLines  = 60
	maxParams = 6
)

// TestFunctionShape fails for a function of the package (tests excepted)
// that is longer than maxLines lines or takes more than maxParams
// parameters.
func TestFunctionShape(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var typ *ast.FuncType
			var body *ast.BlockStmt
			what := "func literal"
			switch fn := n.(type) {
			case *ast.FuncDecl:
				typ, body, what = fn.Type, fn.Body, fn.Name.Name
			case *ast.FuncLit:
				typ, body = fn.Type, fn.Body
			default:
				return true
			}
			checked++
			pos := fset.Position(n.Pos())
			if body != nil {
				if lines := fset.Position(body.End()).Line - pos.Line + 1; lines > maxLines {
					t.Errorf("%s:%d: %s is %d lines long, more than %d: split it", name, pos.Line, what, lines, maxLines)
				}
			}
			if params := typ.Params.NumFields(); params > maxParams {
				t.Errorf("%s:%d: %s takes %d parameters, more than %d: group them", name, pos.Line, what, params, maxParams)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no function checked")
	}
}

// TestDependencies keeps the data flow one way: pipeline drives source,
// builder, registry and deploy and writes into store; it never imports
// the packages that drive it (server, webhook, schedules, cmd).
func TestDependencies(t *testing.T) {
	deps := goListDeps(t, ".")
	const module = "github.com/slipwayci/slipway/"
	for _, f := range []string{"server", "webhook", "schedules", "cmd"} {
		for _, dep := range deps {
			if dep == module+f || strings.HasPrefix(dep, module+f+"/") {
				t.Errorf("pipeline imports %s", dep)
			}
		}
	}
	// The stages never call back up: none of the packages pipeline drives
	// imports pipeline or its drivers.
	for _, stage := range []string{"source", "builder", "registry", "deploy", "hub", "store"} {
		for _, dep := range goListDeps(t, "../"+stage) {
			for _, f := range []string{"pipeline", "server", "webhook", "schedules", "cmd"} {
				if dep == module+f || strings.HasPrefix(dep, module+f+"/") {
					t.Errorf("%s imports %s", stage, dep)
				}
			}
		}
	}
}

// goListDeps lists the packages that pkg imports, directly or not.
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestCoreStagesKnowNoHub: Docker Hub compatibility wraps the stages; the
// core stages' file names no Hub type, field or package.
func TestCoreStagesKnowNoHub(t *testing.T) {
	for _, name := range []string{"stages.go", "deploystage.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.HasSuffix(strings.Trim(imp.Path.Value, `"`), "/hub") {
				t.Errorf("%s imports %s", name, imp.Path.Value)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "hub") {
				t.Errorf("%s names %s", name, id.Name)
			}
			return true
		})
	}
}
