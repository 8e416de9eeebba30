package v1alpha1_test

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
)

// TestShortNamesAreUnique reads what `kubectl api-resources` shows from the
// API server and fails when a short name of our CRDs is also a resource
// name, singular name or short name of another group: kubectl resolves such
// a name to the other group's resource (`kubectl get sa` lists
// ServiceAccounts), so our short name would never work.
func TestShortNamesAreUnique(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string][]string{} // our resource → its short names
	taken := map[string]string{}  // a name of another group's resource → that resource
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") { // a subresource
				continue
			}
			if gv.Group == budgetv1alpha1.GroupVersion.Group {
				ours[r.Name] = r.ShortNames
				continue
			}
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}.String()
			for _, name := range append([]string{r.Name, r.SingularName}, r.ShortNames...) {
				if name != "" {
					taken[name] = gr
				}
			}
		}
	}
	want := []string{"budgetallocations", "budgettransfers", "enterpriseaccounts", "ledgerrecords", "orderpayments", "subaccounts"}
	for _, r := range want {
		if len(ours[r]) == 0 {
			t.Errorf("%s has no short name (discovery shows %v)", r, ours)
		}
	}
	for r, shortNames := range ours {
		if !slices.Contains(want, r) {
			t.Errorf("unexpected resource %s.%s", r, budgetv1alpha1.GroupVersion.Group)
		}
		for _, sn := range shortNames {
			if other, ok := taken[sn]; ok {
				t.Errorf("short name %q of %s is a name of %s", sn, r, other)
			}
		}
	}
}
