// Package sign implements Huawei Cloud's SDK-HMAC-SHA256 request signing
// (the API gateway's AK/SK scheme) and the matching verification used by the
// BSS simulator.
//
// The canonical request is
//
//	METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(SHA256(body))
//
// where CanonicalURI escapes each path segment and always ends in "/",
// CanonicalQuery sorts keys and values and percent-encodes both, and
// CanonicalHeaders lists "name:trimmed-value\n" for every signed header in
// sorted order. The string to sign is "SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex
// SHA256(canonical request)>" and the signature is its HMAC-SHA256 keyed
// with the secret key itself.
//
// Like the official Go SDK, Sign signs every header the request carries
// except Content-Type and names containing "_"; the host is signed only when
// the caller sets a Host header explicitly.
package sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm supported.
const Algorithm = "SDK-HMAC-SHA256"

// DateLayout is the time layout of the X-Sdk-Date header.
const DateLayout = "20060102T150405Z"

// Header names used by the scheme.
const (
	HeaderDate          = "X-Sdk-Date"
	HeaderAuthorization = "Authorization"
	HeaderContentSHA256 = "X-Sdk-Content-Sha256"
	unsignedPayload     = "UNSIGNED-PAYLOAD"
)

// DefaultMaxSkew is how far X-Sdk-Date may be from the verifier's clock.
const DefaultMaxSkew = 15 * time.Minute

// Credentials are an access key pair. String and GoString never reveal the
// secret key or the token.
type Credentials struct {
	AccessKey     string
	SecretKey     string
	SecurityToken string
}

// String hides the secret parts.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{AccessKey: %s, SecretKey: <redacted>, SecurityToken: <redacted>}", redactAK(c.AccessKey))
}

// GoString hides the secret parts from %#v.
func (c Credentials) GoString() string { return c.String() }

func redactAK(ak string) string {
	if len(ak) <= 4 {
		return "<redacted>"
	}
	return ak[:4] + "…"
}

// Request is what the signature covers.
type Request struct {
	Method string
	// Path is the decoded URL path, e.g. "/v2/orders/customer-orders".
	Path string
	// Query holds the decoded query parameters.
	Query url.Values
	// Header holds the request headers; the host, when signed, is taken
	// from Host.
	Header http.Header
	Host   string
	Body   []byte
}

// Sign sets X-Sdk-Date (from now, unless already set), the security token
// header when creds has one, and Authorization on r. body must be exactly
// the bytes that will be sent.
func Sign(r *http.Request, body []byte, creds Credentials, now time.Time) error {
	if creds.AccessKey == "" || creds.SecretKey == "" {
		return errors.New("sign: access key and secret key are required")
	}
	if r.Header.Get(HeaderDate) == "" {
		r.Header.Set(HeaderDate, now.UTC().Format(DateLayout))
	}
	if creds.SecurityToken != "" {
		r.Header.Set("X-Security-Token", creds.SecurityToken)
	}
	req := fromHTTP(r, body)
	signed := SignedHeadersOf(r.Header)
	r.Header.Set(HeaderAuthorization, Authorization(req, signed, creds.AccessKey, creds.SecretKey))
	return nil
}

// SignedHeadersOf lists, lower-cased and sorted, the headers the official SDK
// would sign: all of them except Content-Type, Authorization and names
// containing "_".
func SignedHeadersOf(h http.Header) []string {
	var names []string
	for k := range h {
		lk := strings.ToLower(k)
		if lk == "content-type" || lk == "authorization" || strings.Contains(lk, "_") {
			continue
		}
		names = append(names, lk)
	}
	sort.Strings(names)
	return names
}

// Authorization computes the Authorization header value for req, signing the
// given lower-case header names.
func Authorization(req Request, signedHeaders []string, ak, sk string) string {
	sig := Signature(req, signedHeaders, sk)
	return fmt.Sprintf("%s Access=%s, SignedHeaders=%s, Signature=%s", Algorithm, ak, strings.Join(signedHeaders, ";"), sig)
}

// Signature computes the hex signature of req over signedHeaders.
func Signature(req Request, signedHeaders []string, sk string) string {
	sts := StringToSign(req, signedHeaders)
	mac := hmac.New(sha256.New, []byte(sk))
	mac.Write([]byte(sts))
	return hex.EncodeToString(mac.Sum(nil))
}

// StringToSign returns the text that is HMAC-ed.
func StringToSign(req Request, signedHeaders []string) string {
	cr := CanonicalRequest(req, signedHeaders)
	h := sha256.Sum256([]byte(cr))
	return Algorithm + "\n" + req.Header.Get(HeaderDate) + "\n" + hex.EncodeToString(h[:])
}

// CanonicalRequest returns the canonical form of req described in the
// package comment.
func CanonicalRequest(req Request, signedHeaders []string) string {
	var bodyHash string
	if req.Header.Get(HeaderContentSHA256) == unsignedPayload {
		bodyHash = unsignedPayload
	} else {
		h := sha256.Sum256(req.Body)
		bodyHash = hex.EncodeToString(h[:])
	}
	return strings.Join([]string{
		req.Method,
		canonicalURI(req.Path),
		canonicalQuery(req.Query),
		canonicalHeaders(req, signedHeaders),
		strings.Join(signedHeaders, ";"),
		bodyHash,
	}, "\n")
}

func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = escape(s)
	}
	u := strings.Join(segs, "/")
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

func canonicalHeaders(req Request, signedHeaders []string) string {
	var b strings.Builder
	for _, name := range signedHeaders {
		var vals []string
		if name == "host" {
			vals = []string{req.Host}
		} else {
			vals = append(vals, req.Header.Values(name)...)
		}
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func shouldEscape(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return false
	case c == '-', c == '_', c == '.', c == '~':
		return false
	}
	return true
}

func escape(s string) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if shouldEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func fromHTTP(r *http.Request, body []byte) Request {
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	return Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		Header: r.Header,
		Host:   host,
		Body:   body,
	}
}
