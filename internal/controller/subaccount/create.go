package subaccount

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/accounts"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/controller/common"
)

const (
	// defaultPasswordKey and defaultCodeKey are the Secret keys used when
	// a SecretKeyReference leaves Key empty.
	defaultPasswordKey = "password"
	defaultCodeKey     = "code"
	// codeResendAfter is how long an SMS code is awaited before a new one
	// is sent; BSS codes are valid for 10 minutes by default.
	codeResendAfter = 10 * time.Minute
	// createVisibleWithin is how long an accepted create request may take
	// to show in the list of sub-accounts before it is sent again (BSS
	// refuses a second account with the same login name, so resending
	// cannot create a duplicate).
	createVisibleWithin = 10 * time.Minute
	// smsLimitBackoff is the wait after BSS refused to send another code
	// (CBC.99000082, a per-number frequency limit of minutes to hours).
	smsLimitBackoff = 30 * time.Minute
	// creatingPoll is the first poll interval after a create request.
	creatingPoll = 2 * time.Second
)

// BSS codes the create flow treats specially.
const (
	codeVerificationWrong   = "CBC.99000026"
	codeVerificationExpired = "CBC.99000027"
	codeSMSTooFrequent      = "CBC.99000082"
)

// ensureCreated finds the sub-account by login name or creates it. The
// create call has no idempotency key, so the name is always looked up
// first: after a crash, a lost response or a stale cache the account that
// exists is adopted instead of being created twice.
func (r *Reconciler) ensureCreated(ctx context.Context, s *scope, c *budgetv1alpha1.SubAccountCreate) (ctrl.Result, error) {
	st := s.status()
	if st.CustomerID != "" && st.AccountName != "" && st.AccountName != c.AccountName {
		s.fail(budgetv1alpha1.ReasonCreateFailed, fmt.Sprintf(
			"spec.create.accountName changed from %q to %q after the sub-account %s was created; the operator neither renames sub-accounts nor creates a second one: restore %q",
			st.AccountName, c.AccountName, st.CustomerID, st.AccountName))
		return ctrl.Result{}, nil
	}
	if st.CustomerID != "" && st.AccountState == stateNormal {
		// Created and Normal: it is an adopted account from now on, checked
		// against the master's shared list.
		return r.adopt(ctx, s, st.CustomerID)
	}
	sub, found, err := r.findByName(ctx, s, c.AccountName)
	if err != nil {
		if !isAPIError(err) {
			return ctrl.Result{}, err
		}
		return s.bssFailed(err, fmt.Sprintf("looking up sub-account %q", c.AccountName)), nil
	}
	if found {
		r.codesSent.Delete(s.sa.Name)
		if ok, err := r.claim(ctx, s, sub); !ok || err != nil {
			return ctrl.Result{}, err
		}
		return r.useSubCustomer(s, sub)
	}
	if t := st.CreateRequestedTime; t != nil {
		if s.now.Sub(t.Time) < createVisibleWithin {
			s.fail(budgetv1alpha1.ReasonCreating, fmt.Sprintf(
				"BSS accepted the request to create sub-account %q; waiting for it to appear", c.AccountName))
			return ctrl.Result{RequeueAfter: creationPoll(t, s.now)}, nil
		}
		log.FromContext(ctx).Info("sub-account did not appear after the create request; sending it again",
			"accountName", c.AccountName, "requested", t.Time)
		st.CreateRequestedTime = nil
	}
	return r.create(ctx, s, c)
}

// findByName looks the login name up in BSS, uncached: a new account must
// be seen as soon as it exists.
func (r *Reconciler) findByName(ctx context.Context, s *scope, name string) (bss.SubCustomer, bool, error) {
	subs, err := s.acct.Client.ListAllSubCustomers(ctx, bss.ListSubCustomersRequest{AccountName: name})
	if err != nil {
		return bss.SubCustomer{}, false, err
	}
	for _, sub := range subs {
		if sub.Name == name { // the filter is exact, but do not rely on it
			return sub, true, nil
		}
	}
	return bss.SubCustomer{}, false, nil
}

// create sends the create request, after the SMS code round trip when the
// account gets its own mobile number.
func (r *Reconciler) create(ctx context.Context, s *scope, c *budgetv1alpha1.SubAccountCreate) (ctrl.Result, error) {
	password, problem, err := r.secretValue(ctx, c.PasswordSecretRef, defaultPasswordKey)
	if err != nil {
		return ctrl.Result{}, err
	}
	if problem != "" {
		// The Secret watch brings the SubAccount back when it appears.
		s.fail(budgetv1alpha1.ReasonCredentialsMissing, fmt.Sprintf(
			"the initial password of sub-account %q is missing: %s", c.AccountName, problem))
		return ctrl.Result{}, nil
	}
	// Line endings come from `echo` or files, never from a chosen password.
	password = strings.TrimRight(password, "\r\n")

	req := bss.CreateSubCustomerRequest{
		PartyID:        c.PartyID,
		DisplayName:    c.DisplayName,
		PermissionIDs:  permissionIDs(c.Permissions),
		NewSubCustomer: bss.NewSubCustomer{CustomerName: c.AccountName, Password: password},
	}
	if c.Phone.UseMasterPhone {
		req.NewSubCustomer.UsePriMobilePhone = "Y"
	} else {
		ref := c.Phone.VerificationCodeSecretRef
		if ref == nil || c.Phone.Number == "" {
			s.fail(budgetv1alpha1.ReasonCreateFailed, "spec.create.phone needs useMasterPhone: true, or number with verificationCodeSecretRef")
			return ctrl.Result{}, nil
		}
		code, problem, err := r.secretValue(ctx, *ref, defaultCodeKey)
		if err != nil {
			return ctrl.Result{}, err
		}
		if problem != "" {
			return r.awaitCode(ctx, s, c)
		}
		req.NewSubCustomer.UsePriMobilePhone = "N"
		req.NewSubCustomer.MobilePhone = c.Phone.Number
		req.NewSubCustomer.VerificationCode = strings.TrimSpace(code)
	}

	if err := s.acct.Client.CreateSubCustomer(ctx, req); err != nil {
		if bss.IsTerminal(err) {
			return r.createFailed(s, c, err)
		}
		// Ambiguous (no answer, 5xx, throttled): the next attempt looks the
		// name up before it creates anything.
		if !isAPIError(err) {
			return ctrl.Result{}, err
		}
		return s.bssFailed(err, fmt.Sprintf("creating sub-account %q", c.AccountName)), nil
	}
	st := s.status()
	st.CreateRequestedTime = stamp(s.now)
	accounts.Forget(s.acct, keySubCustomers)
	r.Recorder.Eventf(s.sa, nil, corev1.EventTypeNormal, eventCreateRequested, actionCreate,
		"asked BSS to create sub-account %s in org unit %s", c.AccountName, c.PartyID)
	s.fail(budgetv1alpha1.ReasonCreating, fmt.Sprintf(
		"BSS accepted the request to create sub-account %q; waiting for it to appear", c.AccountName))
	return ctrl.Result{RequeueAfter: creatingPoll}, nil
}

// awaitCode sends the SMS verification code if none was sent recently and
// waits for a person to store it in the code Secret.
func (r *Reconciler) awaitCode(ctx context.Context, s *scope, c *budgetv1alpha1.SubAccountCreate) (ctrl.Result, error) {
	st := s.status()
	ref := *c.Phone.VerificationCodeSecretRef
	key := ref.Key
	if key == "" {
		key = defaultCodeKey
	}
	if st.VerificationCodeSentTime == nil {
		// A send this process made moments ago whose status write has not
		// reached the cache (or failed) still counts.
		if v, ok := r.codesSent.Load(s.sa.Name); ok {
			if sc, ok := v.(sentCode); ok && sc.uid == s.sa.UID && s.now.Sub(sc.at) < codeResendAfter {
				st.VerificationCodeSentTime = stamp(sc.at)
			}
		}
	}
	if sent := st.VerificationCodeSentTime; sent == nil || s.now.Sub(sent.Time) >= codeResendAfter {
		err := s.acct.Client.SendSMSVerificationCode(ctx, bss.SendSMSVerificationCodeRequest{
			MobilePhone:  c.Phone.Number,
			TemplateArgs: []bss.TemplateArg{{Key: bss.TemplateArgSubCustomerName, Value: c.AccountName}},
		})
		if err != nil {
			switch {
			case bss.Code(err) == codeSMSTooFrequent:
				s.syncErr = err
				s.fail(budgetv1alpha1.ReasonBSSError, fmt.Sprintf(
					"sending the SMS verification code for sub-account %q: %s; the operator tries again in %s",
					c.AccountName, common.DescribeBSSError(err), smsLimitBackoff))
				return ctrl.Result{RequeueAfter: smsLimitBackoff}, nil
			case bss.IsTerminal(err):
				return r.createFailed(s, c, err)
			case !isAPIError(err):
				return ctrl.Result{}, err
			}
			return s.bssFailed(err, fmt.Sprintf("sending the SMS verification code for sub-account %q", c.AccountName)), nil
		}
		st.VerificationCodeSentTime = stamp(s.now)
		r.codesSent.Store(s.sa.Name, sentCode{uid: s.sa.UID, at: s.now})
		r.Recorder.Eventf(s.sa, nil, corev1.EventTypeNormal, eventVerificationCodeSent, actionCreate,
			"sent an SMS verification code for sub-account %s to spec.create.phone.number", c.AccountName)
	}
	ns := r.Options.Namespace
	s.fail(budgetv1alpha1.ReasonAwaitingVerificationCode, fmt.Sprintf(
		"an SMS verification code was sent to spec.create.phone.number; store it under key %q of Secret %s/%s "+
			"(kubectl -n %s create secret generic %s --from-literal=%s=<code>); a new code is sent if none is stored within %s",
		key, ns, ref.Name, ns, ref.Name, key, codeResendAfter))
	return ctrl.Result{RequeueAfter: max(st.VerificationCodeSentTime.Add(codeResendAfter).Sub(s.now), time.Second)}, nil
}

// createFailed reports a terminal refusal. It is not retried until
// something changes (the spec, or a referenced Secret). A wrong or expired
// SMS code clears verificationCodeSentTime, so that a new code is sent as
// soon as the old one is deleted.
func (r *Reconciler) createFailed(s *scope, c *budgetv1alpha1.SubAccountCreate, err error) (ctrl.Result, error) {
	s.syncErr = err
	msg := fmt.Sprintf("creating sub-account %q failed: %s", c.AccountName, common.DescribeBSSError(err))
	if code := bss.Code(err); (code == codeVerificationWrong || code == codeVerificationExpired) && c.Phone.VerificationCodeSecretRef != nil {
		s.status().VerificationCodeSentTime = nil
		r.codesSent.Delete(s.sa.Name)
		msg += fmt.Sprintf("; delete Secret %s/%s and the operator sends a new code to store in it (or correct the code if it was mistyped)",
			r.Options.Namespace, c.Phone.VerificationCodeSecretRef.Name)
	}
	s.fail(budgetv1alpha1.ReasonCreateFailed, msg)
	return ctrl.Result{}, reconcile.TerminalError(err)
}

// secretValue reads one key of a Secret in the operator's namespace. A
// missing Secret or key is not an error but a problem to show (without the
// value, which is never logged or shown).
func (r *Reconciler) secretValue(ctx context.Context, ref budgetv1alpha1.SecretKeyReference, defaultKey string) (string, string, error) {
	key := ref.Key
	if key == "" {
		key = defaultKey
	}
	ns := r.Options.Namespace
	var secret corev1.Secret
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Sprintf("Secret %s/%s not found", ns, ref.Name), nil
		}
		return "", "", fmt.Errorf("reading Secret %s/%s: %w", ns, ref.Name, err)
	}
	v := string(secret.Data[key])
	if strings.TrimSpace(v) == "" {
		return "", fmt.Sprintf("Secret %s/%s has no key %q", ns, ref.Name, key), nil
	}
	return v, "", nil
}

func permissionIDs(ps []budgetv1alpha1.Permission) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, string(p))
	}
	return out
}
