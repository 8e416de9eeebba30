package plugin

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// none is printed for an empty cell.
const none = "-"

// timeFormat prints times in UTC, second precision.
const timeFormat = "2006-01-02T15:04:05Z"

// amountOf reads a stored amount (a Money or a signed pending amount) for
// totals. ok is false for an empty or malformed string, which counts as zero.
func amountOf(s string) (a money.Amount, ok bool) {
	if s == "" {
		return money.Zero, false
	}
	v, err := money.ParseDecimal(s)
	if err != nil {
		return money.Zero, false
	}
	return v, true
}

// orNone returns s, or "-" when it is empty.
func orNone[S ~string](s S) string {
	if s == "" {
		return none
	}
	return string(s)
}

// readyOf returns the Ready condition's status and reason, "-" when absent.
func readyOf(conds []metav1.Condition) (status, reason string) {
	c := meta.FindStatusCondition(conds, budgetv1alpha1.ConditionReady)
	if c == nil {
		return none, none
	}
	return string(c.Status), orNone(c.Reason)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// row writes tab-separated cells and a newline.
func row(w io.Writer, cells ...string) {
	_, _ = fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// describeError makes API errors readable: the apiserver's validation
// causes are listed one per line.
func describeError(err error) string {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return err.Error()
	}
	st := se.Status()
	if st.Details == nil || len(st.Details.Causes) == 0 {
		return err.Error()
	}
	var b strings.Builder
	kind := st.Details.Kind
	if st.Details.Group != "" {
		kind += "." + st.Details.Group
	}
	switch st.Reason {
	case metav1.StatusReasonInvalid:
		fmt.Fprintf(&b, "%s %q is invalid:", kind, st.Details.Name)
	default:
		b.WriteString(strings.TrimSpace(st.Message))
		b.WriteString(":")
	}
	for _, c := range st.Details.Causes {
		b.WriteString("\n  - ")
		if c.Field != "" {
			b.WriteString(c.Field)
			b.WriteString(": ")
		}
		b.WriteString(strings.TrimPrefix(c.Message, c.Field+": "))
	}
	return b.String()
}
