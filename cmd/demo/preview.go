package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/planner"
	"github.com/bss-budget-operator/bss-budget-operator/internal/plugin"
	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// previewCheck is one change the demo previews with `kubectl budget plan`,
// then applies, and whose outcome it compares with the preview.
type previewCheck struct {
	what string
	// change returns the allocation as it is to be applied.
	change func(ctx context.Context) (*budgetv1alpha1.BudgetAllocation, error)
	// undo puts things back afterwards (nil: keep the result).
	undo func(ctx context.Context) error
}

// checkPreviews runs the preview checks: a raise past the SubAccount's
// fundingLimit, a credit allocation and an amount above the approval
// limit. Each prints the preview's next step and what the operator did; a
// difference fails the demo.
func (d *demo) checkPreviews(ctx context.Context) error {
	checks := []previewCheck{
		{what: "raise team-a/compute past team-a's fundingLimit (50000.00)",
			change: func(ctx context.Context) (*budgetv1alpha1.BudgetAllocation, error) {
				var ba budgetv1alpha1.BudgetAllocation
				if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "compute"}, &ba); err != nil {
					return nil, err
				}
				ba.Spec.Amount = localenv.Money("60000.00")
				return &ba, nil
			},
			undo: func(ctx context.Context) error {
				return d.updateAmount(ctx, "team-a", "compute", "5000.00")
			}},
		{what: "a credit allocation for team-c",
			change: func(context.Context) (*budgetv1alpha1.BudgetAllocation, error) {
				ba := localenv.Allocation("team-c", "credit", "team-c", "1500.00")
				ba.Spec.BalanceType = budgetv1alpha1.BalanceTypeCredit
				return ba, nil
			}},
		{what: "an allocation above the auto-approval limit (20000.00)",
			change: func(context.Context) (*budgetv1alpha1.BudgetAllocation, error) {
				return localenv.Allocation("team-c", "big", "team-c", "25000.00"), nil
			},
			undo: func(ctx context.Context) error {
				// Deleting it withdraws the transfer waiting for approval.
				ba := localenv.Allocation("team-c", "big", "team-c", "")
				return client.IgnoreNotFound(d.k8s.Delete(ctx, ba))
			}},
	}
	for _, c := range checks {
		if err := d.checkPreview(ctx, c); err != nil {
			return fmt.Errorf("preview check %q: %w", c.what, err)
		}
	}
	return nil
}

func (d *demo) checkPreview(ctx context.Context, c previewCheck) error {
	ba, err := c.change(ctx)
	if err != nil {
		return err
	}
	ba.APIVersion, ba.Kind = budgetv1alpha1.GroupVersion.String(), "BudgetAllocation"
	shown := ba.DeepCopy()
	shown.ManagedFields, shown.Status = nil, budgetv1alpha1.BudgetAllocationStatus{}
	doc, err := yaml.Marshal(shown)
	if err != nil {
		return err
	}
	var out, errOut bytes.Buffer
	code := plugin.RunWithInput(ctx, []string{"plan", "-f", "-"}, bytes.NewReader(doc), &out, &errOut,
		func(plugin.ConnectionFlags) (client.Client, string, error) { return d.k8s, ba.Namespace, nil })
	if code != 0 {
		return fmt.Errorf("kubectl budget plan exited %d: %s%s", code, out.String(), errOut.String())
	}
	next, approvalLine := planLines(out.String())
	if next == "" {
		return fmt.Errorf("kubectl budget plan printed no next step:\n%s", out.String())
	}
	d.say("    %s", c.what)
	d.say("      kubectl budget plan: next: %s", next)
	if approvalLine != "" {
		d.say("      kubectl budget plan: %s", approvalLine)
	}

	if ba.ResourceVersion == "" {
		err = d.k8s.Create(ctx, ba)
	} else {
		err = d.k8s.Update(ctx, ba)
	}
	if err != nil {
		return err
	}
	did, waits, err := d.outcome(ctx, ba)
	if err != nil {
		return err
	}
	d.say("      operator:            %s%s", did, map[bool]string{true: " (waits for approval)", false: ""}[waits])
	if !strings.HasPrefix(next, did) {
		return fmt.Errorf("the operator did %q; kubectl budget plan said %q", did, next)
	}
	if waits != strings.HasPrefix(approvalLine, "needs approval") {
		return fmt.Errorf("the transfer waits for approval: %v; kubectl budget plan said %q", waits, approvalLine)
	}
	if c.undo != nil {
		return c.undo(ctx)
	}
	return nil
}

// planLines picks the next step and its approval line out of a plan.
func planLines(out string) (next, approvalLine string) {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "next: "); ok && next == "" {
			next = s
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    ") {
				approvalLine = strings.TrimSpace(lines[i+1])
			}
		}
	}
	return next, approvalLine
}

// outcome waits for what the operator does with the allocation: the first
// transfer it creates for the current generation, described as the preview
// describes movements, or why nothing moves.
func (d *demo) outcome(ctx context.Context, ba *budgetv1alpha1.BudgetAllocation) (did string, waits bool, err error) {
	err = testenv.Wait(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		var got budgetv1alpha1.BudgetAllocation
		if err := d.k8s.Get(ctx, client.ObjectKeyFromObject(ba), &got); err != nil {
			return false, err
		}
		var list budgetv1alpha1.BudgetTransferList
		if err := d.k8s.List(ctx, &list, client.InNamespace(ba.Namespace)); err != nil {
			return false, err
		}
		for _, bt := range list.Items {
			if bt.Spec.AllocationRef.Name != ba.Name || bt.Annotations[budgetv1alpha1.AnnotationAllocationGeneration] != fmt.Sprint(got.Generation) ||
				bt.Status.Phase == "" || bt.Status.Phase == budgetv1alpha1.PhasePending {
				continue
			}
			dec := planner.EntryOf(&bt)
			did = planner.Describe(planner.Decision{Operation: dec.Operation, Amount: dec.Amount, CouponID: dec.CouponID, SubCouponID: dec.SubCouponID,
				ExpireTime: dec.ExpireTime, Credit: bt.Spec.BalanceType == budgetv1alpha1.BalanceTypeCredit})
			return true, nil
		}
		for _, c := range got.Status.Conditions {
			if c.Type == budgetv1alpha1.ConditionReady && c.ObservedGeneration == got.Generation && c.Status == "False" &&
				c.Reason != budgetv1alpha1.ReasonTransferInProgress && c.Reason != budgetv1alpha1.ReasonProgressing && c.Reason != budgetv1alpha1.ReasonAwaitingApproval {
				did = fmt.Sprintf("nothing moves now: %s: %s", c.Reason, c.Message)
				return true, nil
			}
		}
		return false, nil
	}, func() string { return "no transfer and no blocking reason" })
	if err != nil || did == "" || strings.HasPrefix(did, "nothing") {
		return did, false, err
	}
	var list budgetv1alpha1.BudgetTransferList
	if err := d.k8s.List(ctx, &list, client.InNamespace(ba.Namespace)); err != nil {
		return did, false, err
	}
	for _, bt := range list.Items {
		if bt.Spec.AllocationRef.Name == ba.Name && bt.Status.Phase == budgetv1alpha1.PhaseAwaitingApproval {
			waits = true
		}
	}
	return did, waits, nil
}

// updateAmount sets an allocation's amount, retrying on conflicts.
func (d *demo) updateAmount(ctx context.Context, ns, name, amount string) error {
	return testenv.Wait(ctx, 10*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		var ba budgetv1alpha1.BudgetAllocation
		if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ba); err != nil {
			return false, err
		}
		ba.Spec.Amount = localenv.Money(amount)
		err := d.k8s.Update(ctx, &ba)
		if apierrors.IsConflict(err) {
			return false, nil
		}
		return err == nil, err
	}, nil)
}
