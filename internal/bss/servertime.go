package bss

import (
	"crypto/tls"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// MaxClockSkew is how far X-Sdk-Date may be from the API gateway's clock:
// a request signed more than 15 minutes away from it is rejected as
// expired (bss-api.md §1.2).
const MaxClockSkew = 15 * time.Minute

// DefaultHTTPClient returns the HTTP client New uses when Config.HTTPClient
// is nil: dial, TLS-handshake and response-header timeouts (the last one
// timeout), TLS 1.2 or newer, and no redirects. Wrap its Transport (for
// example with a ServerWatch) and pass it as Config.HTTPClient to observe
// the responses without changing how requests are sent.
func DefaultHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return defaultHTTPClient(timeout)
}

// ServerResponse is what a ServerWatch saw of one HTTP exchange. It holds
// no header other than Date, so no credential can leak through it.
type ServerResponse struct {
	// Method and Path identify the request (no query).
	Method, Path string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Sent and Received are the local clock when the request was handed to
	// the transport and when the response headers arrived.
	Sent, Received time.Time
	// Date is the response's Date header (one-second resolution); zero when
	// the response had none or it could not be parsed.
	Date time.Time
	// RemoteAddr is the address the connection went to ("203.0.113.5:443").
	RemoteAddr string
	// TLSVersion is "TLS 1.2" or "TLS 1.3"; empty for plain HTTP.
	TLSVersion string
}

// Skew estimates the server's clock minus the local clock at this exchange,
// and the estimate's uncertainty: the Date header is truncated to the
// second and was written some time between Sent and Received. ok is false
// when the response had no Date header.
func (r ServerResponse) Skew() (skew, uncertainty time.Duration, ok bool) {
	if r.Date.IsZero() || r.Sent.IsZero() || r.Received.IsZero() {
		return 0, 0, false
	}
	rtt := max(r.Received.Sub(r.Sent), 0)
	mid := r.Sent.Add(rtt / 2)
	serverMid := r.Date.Add(500 * time.Millisecond)
	return serverMid.Sub(mid), 500*time.Millisecond + rtt/2, true
}

// ServerWatch is an http.RoundTripper that records, for every exchange, the
// server's Date header against the local clock, the remote address and the
// TLS version, then hands the response on unchanged. It is safe for
// concurrent use.
type ServerWatch struct {
	// Next sends the requests; http.DefaultTransport when nil.
	Next http.RoundTripper
	// Now is the local clock; time.Now when nil.
	Now func() time.Time

	mu        sync.Mutex
	responses []ServerResponse
}

// RoundTrip sends r through Next and records the exchange.
func (w *ServerWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	next := w.Next
	if next == nil {
		next = http.DefaultTransport
	}
	now := w.Now
	if now == nil {
		now = time.Now
	}
	rec := ServerResponse{Method: r.Method, Path: r.URL.Path}
	var addrMu sync.Mutex
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if info.Conn != nil {
			addrMu.Lock()
			rec.RemoteAddr = info.Conn.RemoteAddr().String()
			addrMu.Unlock()
		}
	}}
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), trace))
	rec.Sent = now()
	resp, err := next.RoundTrip(r)
	rec.Received = now()
	if resp != nil {
		rec.Status = resp.StatusCode
		if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
			rec.Date = d.UTC()
		}
		if resp.TLS != nil {
			rec.TLSVersion = tls.VersionName(resp.TLS.Version)
		}
	}
	addrMu.Lock()
	w.mu.Lock()
	w.responses = append(w.responses, rec)
	w.mu.Unlock()
	addrMu.Unlock()
	return resp, err
}

// Responses returns a copy of what was recorded, oldest first.
func (w *ServerWatch) Responses() []ServerResponse {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ServerResponse(nil), w.responses...)
}
