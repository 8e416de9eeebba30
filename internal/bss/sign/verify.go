package sign

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Verification failures. Each is wrapped with detail that never includes a
// secret or the expected signature.
var (
	ErrMissingAuthorization   = errors.New("missing Authorization header")
	ErrMalformedAuthorization = errors.New("malformed Authorization header")
	ErrMissingDate            = errors.New("missing or malformed X-Sdk-Date header")
	ErrSkew                   = errors.New("X-Sdk-Date is too far from the server time")
	ErrUnknownAccessKey       = errors.New("unknown access key")
	ErrSignatureMismatch      = errors.New("signature does not match")
)

// Verifier checks SDK-HMAC-SHA256 signatures on incoming requests.
type Verifier struct {
	// SecretKey returns the secret key for an access key.
	SecretKey func(accessKey string) (secretKey string, ok bool)
	// Now is the server clock; time.Now when nil.
	Now func() time.Time
	// MaxSkew bounds |X-Sdk-Date - Now|; DefaultMaxSkew when zero.
	MaxSkew time.Duration
}

// Authz is a parsed Authorization header.
type Authz struct {
	AccessKey     string
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
func ParseAuthorization(v string) (Authz, error) {
	var a Authz
	if v == "" {
		return a, ErrMissingAuthorization
	}
	rest, ok := strings.CutPrefix(v, Algorithm+" ")
	if !ok {
		return a, fmt.Errorf("%w: algorithm must be %s", ErrMalformedAuthorization, Algorithm)
	}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, fmt.Errorf("%w: expected key=value parts", ErrMalformedAuthorization)
		}
		switch k {
		case "Access":
			a.AccessKey = val
		case "SignedHeaders":
			if val != "" {
				a.SignedHeaders = strings.Split(val, ";")
			}
		case "Signature":
			a.Signature = val
		default:
			return a, fmt.Errorf("%w: unknown part %q", ErrMalformedAuthorization, k)
		}
	}
	switch {
	case a.AccessKey == "":
		return a, fmt.Errorf("%w: Access is missing", ErrMalformedAuthorization)
	case len(a.SignedHeaders) == 0:
		return a, fmt.Errorf("%w: SignedHeaders is missing", ErrMalformedAuthorization)
	case len(a.Signature) != 64:
		return a, fmt.Errorf("%w: Signature must be 64 hex characters", ErrMalformedAuthorization)
	case !sort.StringsAreSorted(a.SignedHeaders):
		return a, fmt.Errorf("%w: SignedHeaders must be sorted", ErrMalformedAuthorization)
	}
	for _, h := range a.SignedHeaders {
		if h != strings.ToLower(h) || h == "" {
			return a, fmt.Errorf("%w: SignedHeaders must be lower-case names", ErrMalformedAuthorization)
		}
	}
	return a, nil
}

// Verify checks r (whose body has already been read into body) and returns
// the access key that signed it.
func (v Verifier) Verify(r *http.Request, body []byte) (string, error) {
	a, err := ParseAuthorization(r.Header.Get(HeaderAuthorization))
	if err != nil {
		return "", err
	}
	dateStr := r.Header.Get(HeaderDate)
	date, err := time.Parse(DateLayout, dateStr)
	if err != nil {
		return "", ErrMissingDate
	}
	if !containsString(a.SignedHeaders, "x-sdk-date") {
		return "", fmt.Errorf("%w: x-sdk-date must be signed", ErrMalformedAuthorization)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	maxSkew := v.MaxSkew
	if maxSkew == 0 {
		maxSkew = DefaultMaxSkew
	}
	if d := now().Sub(date); d > maxSkew || d < -maxSkew {
		return "", fmt.Errorf("%w (more than %s)", ErrSkew, maxSkew)
	}
	sk, ok := v.SecretKey(a.AccessKey)
	if !ok {
		return "", ErrUnknownAccessKey
	}
	for _, h := range a.SignedHeaders {
		if h != "host" && len(r.Header.Values(h)) == 0 {
			return "", fmt.Errorf("%w: signed header %q is absent", ErrMalformedAuthorization, h)
		}
	}
	want := Signature(fromHTTP(r, body), a.SignedHeaders, sk)
	if !hmac.Equal([]byte(want), []byte(a.Signature)) {
		return "", ErrSignatureMismatch
	}
	return a.AccessKey, nil
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
