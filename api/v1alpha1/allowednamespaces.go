package v1alpha1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Admits reports whether the namespace may fund the SubAccount these
// settings belong to: by name, or by its labels matching the selector.
// labelsOf is asked only when the selector must decide; a namespace that
// is not found is not admitted, and an error reading it is returned. The
// operator and kubectl budget plan both decide with it. An invalid selector
// admits nothing (the API server validates it, so only an object written
// around validation has one).
func (a *AllowedNamespaces) Admits(namespace string, labelsOf func() (nsLabels map[string]string, found bool, err error)) (bool, error) {
	if a == nil {
		return false, nil
	}
	if slices.Contains(a.Names, namespace) {
		return true, nil
	}
	if a.Selector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(a.Selector)
	if err != nil {
		return false, nil //nolint:nilerr // an invalid selector admits nothing
	}
	nsLabels, found, err := labelsOf()
	if err != nil || !found {
		return false, err
	}
	return sel.Matches(labels.Set(nsLabels)), nil
}
