package probe

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
)

func TestOperationsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Operations {
		if seen[o.Name] {
			t.Errorf("%s listed twice", o.Name)
		}
		seen[o.Name] = true
		if o.Action == "" || o.Source == "" || !slices.ContainsFunc([]string{"/v2/", "/v3/", "/v4/"}, func(p string) bool { return strings.HasPrefix(o.Path, p) }) {
			t.Errorf("%s: incomplete row %+v", o.Name, o)
		}
		if o.Write && o.Method != http.MethodPost {
			t.Errorf("%s: a write sent as %s", o.Name, o.Method)
		}
		if !o.Write && o.Method == http.MethodPost && !strings.Contains(o.Path, "query") {
			t.Errorf("%s: a POST that is neither a write nor a query", o.Name)
		}
		if want := ActionFinanceUpdate; o.Write && o.Name != bss.OpPayOrders && o.Action != want {
			t.Errorf("%s: a money write needs %s, not %s", o.Name, want, o.Action)
		}
	}
	// Every read the probe makes and every money write is in the table.
	for _, op := range []string{
		bss.OpShowMultiAccountTransferAmount, bss.OpListEnterpriseMultiAccount, bss.OpListMultiAccountTransferCoupons,
		bss.OpListMultiAccountRetrieveCoupons, bss.OpListEnterpriseSubCustomers, bss.OpListEnterpriseOrganizations,
		bss.OpListCustomerOrders, bss.OpShowCustomerOrderDetails, bss.OpShowCustomerMonthlySum,
		bss.OpShowCustomerAccountBalances, bss.OpListCustomerAccountChangeRecords,
		bss.OpListCosts, bss.OpListCustomerBillsMonthlyBreakDown, bss.OpListFreeResourceInfos, bss.OpListFreeResourceUsages,
		bss.OpUpdateSubEnterpriseAmount, bss.OpReclaimSubEnterpriseAmount,
		bss.OpClaimEnterpriseMultiAccountCoupon, bss.OpReclaimEnterpriseMultiAccountCoupon,
		bss.OpListOrderCouponsByOrderID, bss.OpListOrderDiscounts, bss.OpPayOrders, bss.OpCancelCustomerOrder,
	} {
		if !seen[op] {
			t.Errorf("%s is not in Operations", op)
		}
	}
}

func TestDiagnose(t *testing.T) {
	apiErr := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &bss.Error{Operation: bss.OpListEnterpriseSubCustomers, HTTPStatus: status, Code: code})
	}
	for _, c := range []struct {
		name   string
		err    error
		result string
		advice string
	}{
		{"nil", nil, ResultOK, ""},
		{"403 CBC.0151", apiErr(http.StatusForbidden, "CBC.0151"), ResultDenied, ActionUnitView},
		{"403 without a code", apiErr(http.StatusForbidden, ""), ResultDenied, ActionUnitView},
		{"400 CBC.0151", apiErr(http.StatusBadRequest, "CBC.0151"), ResultDenied, ActionUnitView},
		{"401 APIG.0301", apiErr(http.StatusUnauthorized, "APIG.0301"), ResultRejected, "clock"},
		{"403 CBC.0156", apiErr(http.StatusForbidden, "CBC.0156"), ResultWrongSite, "site"},
		{"sub-account not found", apiErr(http.StatusBadRequest, bss.CodeSubAccountNotFound), ResultError, "--sub-customer-id"},
		{"500", apiErr(http.StatusInternalServerError, "CBC.0999"), ResultError, ""},
		{"undecodable", &bss.DecodeError{Operation: "x", HTTPStatus: 200, Err: errors.New("bad")}, ResultUndecodable, "decode"},
		{"transport", &bss.TransportError{Operation: "x"}, ResultUnreachable, "--endpoint"},
		{"other", errors.New("not sent"), ResultError, ""},
	} {
		d := diagnose(bss.OpListEnterpriseSubCustomers, c.err)
		if d.result != c.result || !strings.Contains(d.advice, c.advice) {
			t.Errorf("%s: %+v, want %s with advice containing %q", c.name, d, c.result, c.advice)
		}
	}
}

func dur(d time.Duration) *Duration { v := Duration(d); return &v }

func TestRecommendRetention(t *testing.T) {
	for _, c := range []struct {
		name string
		r    RetentionAnswer
		want time.Duration // 0: not set
		note string
	}{
		{"at least the window", RetentionAnswer{Answer: Answer{Answer: RetentionAtLeast}, RememberedAtLeast: dur(5 * time.Minute)}, 5 * time.Minute, "measured lower bound"},
		{"forgotten later", RetentionAnswer{Answer: Answer{Answer: RetentionForgotten}, RememberedAtLeast: dur(150 * time.Second), ForgottenBy: dur(5 * time.Minute)}, 150 * time.Second, "do not declare more"},
		{"below the CRD's minimum", RetentionAnswer{Answer: Answer{Answer: RetentionAtLeast}, RememberedAtLeast: dur(time.Minute)}, 0, "below the 2m"},
		{"forgotten at once", RetentionAnswer{Answer: Answer{Answer: RetentionForgotten}, ForgottenBy: dur(time.Minute)}, 0, "--transfer-safety-window"},
		{"not measured", RetentionAnswer{Answer: Answer{Answer: budgetv1alpha1.BehaviourUnknown}}, 0, "not measured"},
		{"fraction of a second", RetentionAnswer{Answer: Answer{Answer: RetentionAtLeast}, RememberedAtLeast: dur(150*time.Second + 300*time.Millisecond)}, 150 * time.Second, ""},
	} {
		b, notes := recommend(Questions{TransIDRetention: c.r})
		got := time.Duration(0)
		if b.TransIDRetention != nil {
			got = b.TransIDRetention.Duration
		}
		if got != c.want || !strings.Contains(notes[0], c.note) {
			t.Errorf("%s: %s, %q; want %s and a note with %q", c.name, got, notes[0], c.want, c.note)
		}
		if b.RefusedTransIDs != budgetv1alpha1.BehaviourUnknown || b.TransferRecords != budgetv1alpha1.BehaviourUnknown || b.Reclaimable != budgetv1alpha1.BehaviourUnknown {
			t.Errorf("%s: unanswered questions must be recommended Unknown: %+v", c.name, b)
		}
	}
}

func TestRecommendedYAMLAndPatch(t *testing.T) {
	b := budgetv1alpha1.BSSBehaviour{RefusedTransIDs: budgetv1alpha1.RefusedTransIDsBurned, TransferRecords: budgetv1alpha1.RecordsNone,
		Reclaimable: budgetv1alpha1.ReclaimableFundedOnly, TransIDRetention: Duration(10 * time.Minute).Meta()}
	y := RecommendedYAML(b)
	for _, want := range []string{"spec:\n  bssBehaviour:\n", "refusedTransIDs: Burned", "transIDRetention: 10m0s", "transferRecords: None", "reclaimable: FundedOnly"} {
		if !strings.Contains(y, want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
	if p := RecommendedPatch(b); !strings.Contains(p, `{"spec":{"bssBehaviour":{`) || !strings.Contains(p, `"transIDRetention":"10m0s"`) {
		t.Errorf("patch %s", p)
	}
}
