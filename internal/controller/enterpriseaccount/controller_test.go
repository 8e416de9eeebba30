package enterpriseaccount

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/bssfake"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
	"github.com/bss-budget-operator/bss-budget-operator/internal/localenv"
	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// The EnterpriseAccount reconciler against a fake API server and an
// in-memory BSS that the registry connects to in place of the real API.

const (
	opNS   = "bss-budget-system"
	secret = "acme-credentials"
)

// rejecting is a BSS that refuses the master's access key.
type rejecting struct{ *bssfake.BSS }

func (rejecting) TransferableCash(context.Context) (money.Amount, error) {
	return money.Zero, &bss.Error{Operation: bss.OpShowMultiAccountTransferAmount, HTTPStatus: http.StatusUnauthorized, Code: "APIG.0301", Message: "Incorrect IAM authentication information."}
}

func reconcileAccount(t *testing.T, api bss.API, objs ...client.Object) (*budgetv1alpha1.EnterpriseAccount, *accounts.Registry) {
	t.Helper()
	ea := &budgetv1alpha1.EnterpriseAccount{ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: 1}, Spec: budgetv1alpha1.EnterpriseAccountSpec{
		Endpoint: "https://bss.myhuaweicloud.com", CredentialsSecretRef: budgetv1alpha1.SecretReference{Name: secret, Namespace: opNS},
	}}
	k8s := fake.NewClientBuilder().WithScheme(localenv.NewScheme()).WithStatusSubresource(ea).WithObjects(append(objs, ea)...).Build()
	reg := accounts.NewRegistry(nil, nil)
	reg.SetConnector(func(bss.Config) (bss.API, error) { return api, nil })
	opts := common.Options{Namespace: opNS, Clock: clocktesting.NewFakeClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))}
	opts.Defaults()
	r := &Reconciler{Client: k8s, Recorder: events.NewFakeRecorder(10), Registry: reg, Options: opts}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "acme"}}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	var got budgetv1alpha1.EnterpriseAccount
	if err := k8s.Get(context.Background(), types.NamespacedName{Name: "acme"}, &got); err != nil {
		t.Fatal(err)
	}
	return &got, reg
}

func credentials() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: opNS}, Data: map[string][]byte{
		common.KeyAccessKeyID: []byte("AK"), common.KeySecretAccessKey: []byte("SK"), common.KeyDomainID: []byte("0c5a17e0d0d0400f8e1b5a51a0000001"),
	}}
}

func TestReadyWithTheMastersBalances(t *testing.T) {
	b := bssfake.New(money.MustParse("1234.50"), map[string]money.Amount{"CP1": money.MustParse("50")}, "cust-1", "cust-2")
	ea, reg := reconcileAccount(t, b, credentials())
	if !common.IsTrue(ea.Status.Conditions, budgetv1alpha1.ConditionReady) {
		t.Fatalf("not Ready: %+v", ea.Status.Conditions)
	}
	if ea.Status.TransferableCash != "1234.50" || ea.Status.SubAccounts != 2 || len(ea.Status.TransferableCoupons) != 1 || ea.Status.ObservedGeneration != 1 {
		t.Errorf("status = %+v", ea.Status)
	}
	acct, ok := reg.Get("acme")
	if !ok {
		t.Fatal("no connection in the registry")
	}
	if cash, known := acct.TransferableCash(); !known || cash != money.MustParse("1234.50") {
		t.Errorf("cached master cash %s (known %v)", cash, known)
	}
}

func TestCredentialsMissing(t *testing.T) {
	ea, reg := reconcileAccount(t, bssfake.New(money.Zero, nil))
	if got := common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady); got != budgetv1alpha1.ReasonCredentialsMissing {
		t.Errorf("Ready reason %q, want CredentialsMissing", got)
	}
	if _, ok := reg.Get("acme"); ok {
		t.Error("a connection without credentials is in the registry")
	}
}

func TestCredentialsRejected(t *testing.T) {
	ea, _ := reconcileAccount(t, rejecting{bssfake.New(money.Zero, nil)}, credentials())
	if got := common.ReadyReason(ea.Status.Conditions, budgetv1alpha1.ConditionReady); got != budgetv1alpha1.ReasonCredentialsRejected {
		t.Errorf("Ready reason %q, want CredentialsRejected: %+v", got, ea.Status.Conditions)
	}
}
