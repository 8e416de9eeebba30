package common

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss/sign"
)

// Keys of the credentials Secret.
const (
	KeyAccessKeyID     = "accessKeyID"
	KeySecretAccessKey = "secretAccessKey"
	KeyDomainID        = "domainID"
	KeySecurityToken   = "securityToken"
)

// CredentialsError explains why the credentials could not be loaded, in a
// message fit for a condition (it never contains a secret).
type CredentialsError struct{ Message string }

func (e *CredentialsError) Error() string { return e.Message }

// LoadClientConfig reads the EnterpriseAccount's credentials Secret from the
// operator's namespace and returns the client configuration and a
// fingerprint that changes whenever the client must be rebuilt.
func LoadClientConfig(ctx context.Context, c client.Reader, operatorNamespace string, ea *budgetv1alpha1.EnterpriseAccount) (bss.Config, string, error) {
	ref := ea.Spec.CredentialsSecretRef
	ns := ref.Namespace
	if ns == "" {
		ns = operatorNamespace
	}
	if ns != operatorNamespace {
		return bss.Config{}, "", &CredentialsError{Message: fmt.Sprintf(
			"credentialsSecretRef must name a Secret in the operator's namespace %q, not %q", operatorNamespace, ns)}
	}
	var s corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return bss.Config{}, "", &CredentialsError{Message: fmt.Sprintf("Secret %s/%s not found", ns, ref.Name)}
		}
		return bss.Config{}, "", err
	}
	var missing []string
	get := func(k string, required bool) string {
		v := strings.TrimSpace(string(s.Data[k]))
		if v == "" && required {
			missing = append(missing, k)
		}
		return v
	}
	creds := sign.Credentials{
		AccessKey:     get(KeyAccessKeyID, true),
		SecretKey:     get(KeySecretAccessKey, true),
		SecurityToken: get(KeySecurityToken, false),
	}
	domain := get(KeyDomainID, true)
	if len(missing) > 0 {
		return bss.Config{}, "", &CredentialsError{Message: fmt.Sprintf("Secret %s/%s lacks key(s) %s", ns, ref.Name, strings.Join(missing, ", "))}
	}
	rps := int32(8)
	if ea.Spec.RateLimit != nil && ea.Spec.RateLimit.RequestsPerSecond > 0 {
		rps = ea.Spec.RateLimit.RequestsPerSecond
	}
	cfg := bss.Config{
		Endpoint:          ea.Spec.Endpoint,
		Credentials:       creds,
		DomainID:          domain,
		RequestsPerSecond: float64(rps),
		UserAgent:         "bss-budget-operator",
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "https://bss.myhuaweicloud.com"
	}
	h := sha256.New()
	for _, part := range []string{cfg.Endpoint, strconv.Itoa(int(rps)), string(s.UID), s.ResourceVersion} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return cfg, hex.EncodeToString(h.Sum(nil)), nil
}
