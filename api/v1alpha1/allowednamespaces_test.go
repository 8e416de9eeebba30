package v1alpha1

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAdmits(t *testing.T) {
	team := func() (map[string]string, bool, error) { return map[string]string{"team": "a"}, true, nil }
	gone := func() (map[string]string, bool, error) { return nil, false, nil }
	broken := func() (map[string]string, bool, error) { return nil, false, errors.New("forbidden") }
	unused := func() (map[string]string, bool, error) {
		t.Error("labels read although the name decides")
		return nil, false, nil
	}
	byLabel := &AllowedNamespaces{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}}
	cases := []struct {
		name     string
		a        *AllowedNamespaces
		labelsOf func() (map[string]string, bool, error)
		want     bool
		wantErr  bool
	}{
		{"no settings admit none", nil, unused, false, false},
		{"by name", &AllowedNamespaces{Names: []string{"team-a"}, Selector: byLabel.Selector}, unused, true, false},
		{"another name, no selector", &AllowedNamespaces{Names: []string{"team-b"}}, unused, false, false},
		{"by label", byLabel, team, true, false},
		{"labels that do not match", &AllowedNamespaces{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}}, team, false, false},
		{"namespace gone", byLabel, gone, false, false},
		{"namespace unreadable", byLabel, broken, false, true},
		{"invalid selector", &AllowedNamespaces{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Bogus"}}}}, team, false, false},
	}
	for _, tc := range cases {
		got, err := tc.a.Admits("team-a", tc.labelsOf)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %v, %v", tc.name, got, err)
		}
	}
}
