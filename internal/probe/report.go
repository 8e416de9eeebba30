package probe

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	budgetv1alpha1 "github.com/bss-budget-operator/bss-budget-operator/api/v1alpha1"
	"github.com/bss-budget-operator/bss-budget-operator/internal/bss"
)

// Report is everything one run found.
type Report struct {
	// Endpoint is the BSS endpoint; RemoteAddr and TLSVersion what the
	// connections actually reached.
	Endpoint   string `json:"endpoint"`
	RemoteAddr string `json:"remoteAddress,omitempty"`
	TLSVersion string `json:"tlsVersion,omitempty"`
	// SubCustomerID is the test sub-account; SubCredentials whether its own
	// credentials were given.
	SubCustomerID  string `json:"subCustomerID,omitempty"`
	SubCredentials bool   `json:"subCredentials"`
	// MoveMoney is whether money was allowed to move.
	MoveMoney bool `json:"moveMoney"`
	// RetentionWindow is the age up to which trans_ids were checked.
	RetentionWindow Duration `json:"retentionWindow"`
	// Interrupted: the run's context ended before it finished (the
	// settlement still ran).
	Interrupted bool `json:"interrupted,omitempty"`
	// Started and Finished are the run's local times (UTC).
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Clock compares BSS's clock with the local one.
	Clock Clock `json:"clock"`
	// Reads are the read operations, one row each.
	Reads []ReadCheck `json:"reads"`
	// Questions are the answers.
	Questions Questions `json:"questions"`
	// Movements are the money writes, in order.
	Movements []*Movement `json:"movements,omitempty"`
	// Settlement is how the movements were returned (MoveMoney only).
	Settlement *Settlement `json:"settlement,omitempty"`
	// Recommended is the EnterpriseAccount spec.bssBehaviour the answers
	// support; RecommendationNotes explain it.
	Recommended         budgetv1alpha1.BSSBehaviour `json:"recommendedBSSBehaviour"`
	RecommendationNotes []string                    `json:"recommendationNotes,omitempty"`
}

// Clock compares the Date headers of BSS's responses with the local clock.
type Clock struct {
	// Responses is how many responses carried a Date header.
	Responses int `json:"responses"`
	// Skew is BSS's clock minus the local clock, from the response with the
	// shortest round trip; Uncertainty its error bound.
	Skew        Duration `json:"skew"`
	Uncertainty Duration `json:"uncertainty"`
	// Limit is how far X-Sdk-Date may be from BSS's clock.
	Limit Duration `json:"limit"`
	// Verdict is "ok", "warning" (more than a third of the limit), "over"
	// (requests are rejected) or "unknown" (no Date header seen).
	Verdict string `json:"verdict"`
}

// Failed reports whether the run was interrupted or found something the
// operator cannot live with: a read that failed, a clock beyond BSS's
// limit, or money it could not return.
func (r *Report) Failed() bool {
	if r.Interrupted || r.Clock.Verdict == "over" {
		return true
	}
	for _, rc := range r.Reads {
		if rc.Result != ResultOK && rc.Result != ResultSkipped {
			return true
		}
	}
	return r.Settlement != nil && !r.Settlement.Complete
}

// Duration is a time.Duration written as "5m0s" in JSON.
type Duration time.Duration

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Round rounds d to the second, for display.
func (d Duration) Round() Duration { return Duration(time.Duration(d).Round(time.Second)) }

// Meta returns d, truncated to the second, as a *metav1.Duration.
func (d Duration) Meta() *metav1.Duration {
	return &metav1.Duration{Duration: time.Duration(d).Truncate(time.Second)}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// clockReport estimates the skew from the recorded responses.
func clockReport(w *bss.ServerWatch) Clock {
	c := Clock{Limit: Duration(bss.MaxClockSkew), Verdict: "unknown"}
	if w == nil {
		return c
	}
	best := time.Duration(-1)
	for _, r := range w.Responses() {
		skew, unc, ok := r.Skew()
		if !ok {
			continue
		}
		c.Responses++
		if best < 0 || unc < best {
			best = unc
			c.Skew, c.Uncertainty = Duration(skew.Round(time.Millisecond)), Duration(unc.Round(time.Millisecond))
		}
	}
	if c.Responses == 0 {
		return c
	}
	worst := time.Duration(c.Skew).Abs() + time.Duration(c.Uncertainty)
	switch {
	case worst > bss.MaxClockSkew:
		c.Verdict = "over"
	case worst > bss.MaxClockSkew/3:
		c.Verdict = "warning"
	default:
		c.Verdict = "ok"
	}
	return c
}

// remote returns the most used remote address and its TLS version.
func remote(w *bss.ServerWatch) (string, string) {
	if w == nil {
		return "", ""
	}
	count := map[string]int{}
	tlsOf := map[string]string{}
	for _, r := range w.Responses() {
		if r.RemoteAddr != "" {
			count[r.RemoteAddr]++
			tlsOf[r.RemoteAddr] = r.TLSVersion
		}
	}
	addrs := make([]string, 0, len(count))
	for a := range count {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool {
		if count[addrs[i]] != count[addrs[j]] {
			return count[addrs[i]] > count[addrs[j]]
		}
		return addrs[i] < addrs[j]
	})
	if len(addrs) == 0 {
		return "", ""
	}
	s := addrs[0]
	if len(addrs) > 1 {
		s += fmt.Sprintf(" (and %d other addresses)", len(addrs)-1)
	}
	return s, tlsOf[addrs[0]]
}
