package sdkconformance

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	bssv2 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2"
)

// notAnOperation lists the exported methods of internal/bss's Client that
// reach no BSS operation, and why.
var notAnOperation = map[string]string{
	"String":   "prints the client without its secrets",
	"GoString": "prints the client without its secrets (%#v)",
	"Format":   "prints the client without its secrets (every verb)",
}

// bssPackage is what the suite reads from internal/bss's source.
type bssPackage struct {
	// ops maps the Op… constants' names to their values, the SDK method
	// names of the operations the client implements.
	ops map[string]string
	// methods are the exported methods of *Client.
	methods []string
	// reaches maps each exported method to the operations it calls,
	// directly or through other methods and functions of the package.
	reaches map[string][]string
}

// parseBSS reads the non-test Go files of internal/bss (not its
// subpackages) with go/parser: no import of the operator's module needed.
func parseBSS(t *testing.T) bssPackage {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "internal", "bss")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
	}
	if len(parsed) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	pkg := bssPackage{ops: map[string]string{}, reaches: map[string][]string{}}
	// Declarations: Op constants, functions and Client methods.
	type decl struct {
		recv string // the receiver's name, "" for a function
		body *ast.BlockStmt
	}
	funcs := map[string]decl{} // "Client.Name" or "Name"
	for _, f := range parsed {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, spec := range d.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !isOpName(name.Name) || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, err := strconv.Unquote(lit.Value)
							if err != nil {
								t.Fatal(err)
							}
							pkg.ops[name.Name] = v
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil {
					funcs[d.Name.Name] = decl{body: d.Body}
					continue
				}
				recvType, recvName := receiver(d.Recv)
				if recvType != "Client" {
					continue
				}
				funcs["Client."+d.Name.Name] = decl{recv: recvName, body: d.Body}
				if d.Name.IsExported() {
					pkg.methods = append(pkg.methods, d.Name.Name)
				}
			}
		}
	}
	// References: which functions and operations each declaration names.
	refs := map[string][]string{}
	for key, d := range funcs {
		if d.body == nil {
			continue
		}
		selectors := map[*ast.Ident]bool{} // x.Sel: never a name of this package
		ast.Inspect(d.body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				selectors[n.Sel] = true
				if x, ok := n.X.(*ast.Ident); ok && d.recv != "" && x.Name == d.recv {
					if _, ok := funcs["Client."+n.Sel.Name]; ok {
						refs[key] = append(refs[key], "Client."+n.Sel.Name)
					}
				}
			case *ast.Ident:
				if selectors[n] {
					return true
				}
				if v, ok := pkg.ops[n.Name]; ok {
					refs[key] = append(refs[key], "op:"+v)
				} else if _, ok := funcs[n.Name]; ok {
					refs[key] = append(refs[key], n.Name)
				}
			}
			return true
		})
	}
	for _, m := range pkg.methods {
		seen := map[string]bool{}
		var ops []string
		var walk func(key string)
		walk = func(key string) {
			if seen[key] {
				return
			}
			seen[key] = true
			for _, r := range refs[key] {
				if op, ok := strings.CutPrefix(r, "op:"); ok {
					if !slices.Contains(ops, op) {
						ops = append(ops, op)
					}
					continue
				}
				walk(r)
			}
		}
		walk("Client." + m)
		slices.Sort(ops)
		pkg.reaches[m] = ops
	}
	slices.Sort(pkg.methods)
	return pkg
}

// isOpName reports whether a constant's name is Op followed by a capital.
func isOpName(name string) bool {
	return len(name) > 2 && strings.HasPrefix(name, "Op") && name[2] >= 'A' && name[2] <= 'Z'
}

// receiver returns the type name (without *) and the variable name of a
// method's receiver.
func receiver(fl *ast.FieldList) (string, string) {
	if fl == nil || len(fl.List) != 1 {
		return "", ""
	}
	f := fl.List[0]
	typ := f.Type
	if st, ok := typ.(*ast.StarExpr); ok {
		typ = st.X
	}
	id, ok := typ.(*ast.Ident)
	if !ok {
		return "", ""
	}
	name := ""
	if len(f.Names) == 1 {
		name = f.Names[0].Name
	}
	return id.Name, name
}

// TestSuiteCoversTheClient fails when internal/bss implements a BSS
// operation, or has a Client method reaching one, that the table in
// operations_test.go does not cover, and when the table is stale.
func TestSuiteCoversTheClient(t *testing.T) {
	pkg := parseBSS(t)
	if len(pkg.ops) == 0 || len(pkg.methods) == 0 {
		t.Fatalf("found %d Op constants and %d Client methods in internal/bss: the parser no longer understands it", len(pkg.ops), len(pkg.methods))
	}
	opValues := map[string]string{}
	for name, v := range pkg.ops {
		opValues[v] = name
	}
	sdkClient := reflect.TypeFor[*bssv2.BssClient]()
	rows := map[string]bool{}
	listedIn := map[string][]string{} // Client method → rows listing it
	for _, op := range operations() {
		if rows[op.name] {
			t.Errorf("operation %s has two rows", op.name)
		}
		rows[op.name] = true
		if _, ok := sdkClient.MethodByName(op.name); !ok {
			t.Errorf("row %s: the SDK's BssClient has no such method", op.name)
		}
		switch {
		case opValues[op.name] == "" && op.notInClient == "":
			t.Errorf("row %s: internal/bss has no Op constant with this value; remove the row, or say in notInClient why the simulator serves it ahead of the client", op.name)
		case opValues[op.name] != "" && op.notInClient != "":
			t.Errorf("row %s: internal/bss implements it now (%s): list its Client methods in clientMethods and drop notInClient", op.name, opValues[op.name])
		case op.notInClient != "" && len(op.clientMethods) > 0:
			t.Errorf("row %s: lists Client methods, but notInClient says internal/bss does not call it", op.name)
		}
		if op.run == nil || (len(op.clientMethods) == 0 && op.notInClient == "") {
			t.Errorf("row %s: needs a run function and the Client methods it covers", op.name)
		}
		for _, m := range op.clientMethods {
			listedIn[m] = append(listedIn[m], op.name)
			if _, ok := pkg.reaches[m]; !ok {
				t.Errorf("row %s lists Client.%s, which internal/bss does not have", op.name, m)
			}
		}
	}
	for name, v := range pkg.ops {
		if !rows[v] {
			t.Errorf("internal/bss implements %s (%s), which this suite does not call: add a row to operations() in operations_test.go", v, name)
		}
	}
	for _, m := range pkg.methods {
		reached := pkg.reaches[m]
		why, skip := notAnOperation[m]
		switch {
		case len(reached) == 0 && !skip:
			t.Errorf("Client.%s reaches no BSS operation: if it calls BSS some other way, cover it; otherwise list it in notAnOperation with why", m)
		case len(reached) > 0 && skip:
			t.Errorf("Client.%s reaches %v but notAnOperation says %q", m, reached, why)
		case len(reached) > 0:
			listed := slices.Sorted(slices.Values(listedIn[m]))
			if !slices.Equal(listed, reached) {
				t.Errorf("Client.%s calls %v, but the rows %v list it: list it in the clientMethods of exactly the rows it calls", m, reached, listed)
			}
		}
	}
	for m := range notAnOperation {
		if _, ok := pkg.reaches[m]; !ok {
			t.Errorf("notAnOperation lists Client.%s, which internal/bss does not have", m)
		}
	}
}

func TestParseBSSFollowsCalls(t *testing.T) {
	pkg := parseBSS(t)
	for m, want := range map[string][]string{
		"TransferableCash":        {"ShowMultiAccountTransferAmount"},
		"ListAllOrders":           {"ListCustomerOrders"},
		"TransferAmount":          {"UpdateSubEnterpriseAmount"},
		"GetAccountBalances":      {"ShowCustomerAccountBalances"},
		"String":                  nil,
		"ListAllMonthlySums":      {"ShowCustomerMonthlySum"},
		"ReclaimableCredit":       {"ListEnterpriseMultiAccount"},
		"SendSMSVerificationCode": {"SendSmsVerificationCode"},
	} {
		if got := pkg.reaches[m]; !slices.Equal(got, want) {
			t.Errorf("Client.%s reaches %v, want %v", m, got, want)
		}
	}
}
