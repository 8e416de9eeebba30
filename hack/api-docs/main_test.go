package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

const crdDir = "../../config/crd/bases"

// TestReferenceIsCurrent fails when docs/api-reference.md is not what the
// generator makes of the CRDs (make api-docs regenerates it), so that go
// test catches stale documentation as make verify does.
func TestReferenceIsCurrent(t *testing.T) {
	crds, err := readCRDs(crdDir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := render(crds)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "api-reference.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("docs/api-reference.md is stale: run make api-docs")
	}
}

// TestEveryFieldIsDocumented walks the schemas independently of the
// generator and looks for every field path, its description and the
// messages of its CEL rules in the output.
func TestEveryFieldIsDocumented(t *testing.T) {
	crds, err := readCRDs(crdDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 6 {
		t.Fatalf("read %d CRDs, want 6", len(crds))
	}
	out, err := render(crds)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(out)
	for _, crd := range crds {
		v, err := servedVersion(crd)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(doc, "## "+crd.Spec.Names.Kind+"\n") {
			t.Errorf("no section for %s", crd.Spec.Names.Kind)
		}
		root := v.Schema.OpenAPIV3Schema
		for _, top := range []string{"spec", "status"} {
			check(t, doc, crd.Spec.Names.Kind, top, root.Properties[top])
		}
	}
}

func check(t *testing.T, doc, kind, path string, s apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	if !strings.Contains(doc, "- **`"+path+"`**") {
		t.Errorf("%s: field %s is missing", kind, path)
	}
	if d := paragraphs(s.Description); d != "" && !strings.Contains(doc, d) {
		t.Errorf("%s: the description of %s is missing", kind, path)
	}
	for _, r := range s.XValidations {
		if r.Message != "" && !strings.Contains(doc, strings.TrimSuffix(r.Message, ".")) {
			t.Errorf("%s: the rule message %q of %s is missing", kind, r.Message, path)
		}
	}
	for _, e := range s.Enum {
		if !strings.Contains(doc, "`"+literal(e.Raw)+"`") {
			t.Errorf("%s: enum value %s of %s is missing", kind, e.Raw, path)
		}
	}
	if s.Pattern != "" && !strings.Contains(doc, "`"+s.Pattern+"`") {
		t.Errorf("%s: the pattern of %s is missing", kind, path)
	}
	for name, p := range s.Properties {
		check(t, doc, kind, path+"."+name, p)
	}
	if s.Items != nil && s.Items.Schema != nil {
		for name, p := range s.Items.Schema.Properties {
			check(t, doc, kind, path+"[]."+name, p)
		}
	}
}
