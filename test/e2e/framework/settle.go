package framework

import (
	"fmt"
	"strings"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
)

// Declared is an allocation a test or benchmark declared: it should be
// settled and Ready with Granted, or gone when Deleted.
type Declared struct {
	Namespace, Name string
	// Granted is the amount it should show granted, as the operator
	// formats it (two decimals).
	Granted string
	Deleted bool
}

// Unsettled compares the allocations listed with the declared ones and
// describes each declared allocation that is not there yet: missing, not
// settled, not Ready, granted another amount, or not yet gone.
func Unsettled(list []budgetv1alpha1.BudgetAllocation, declared []Declared) []string {
	got := make(map[string]*budgetv1alpha1.BudgetAllocation, len(list))
	for i := range list {
		got[list[i].Namespace+"/"+list[i].Name] = &list[i]
	}
	var waiting []string
	for _, d := range declared {
		key := d.Namespace + "/" + d.Name
		ba, ok := got[key]
		switch {
		case d.Deleted && ok:
			waiting = append(waiting, fmt.Sprintf("%s deleting (%s)", key, localenv.ReadyReason(ba.Status.Conditions)))
		case d.Deleted:
		case !ok:
			waiting = append(waiting, key+" missing")
		case !localenv.AllocationSettled(ba) || !localenv.IsReady(ba.Status.Conditions) || string(ba.Status.Granted) != d.Granted:
			waiting = append(waiting, fmt.Sprintf("%s granted %s of %s (%s)", key, ba.Status.Granted, d.Granted, localenv.ReadyReason(ba.Status.Conditions)))
		}
	}
	return waiting
}

// Summarize shortens what Unsettled returned for a timeout message.
func Summarize(waiting []string) string {
	if len(waiting) > 5 {
		return fmt.Sprintf("%d allocations not settled, such as %s", len(waiting), strings.Join(waiting[:5], "; "))
	}
	return strings.Join(waiting, "; ")
}
