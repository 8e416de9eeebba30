package sdkconformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// rootModule is the operator's module path; repoRoot checks it.
const rootModule = "github.com/bss-budget-operator/bss-budget-operator"

// repoRoot returns the repository root, two directories above this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(b, []byte("module "+rootModule+"\n")) {
		t.Fatalf("%s is not the root of %s (go.mod: %v)", root, rootModule, err)
	}
	return root
}

// buildSimulator builds cmd/bss-simulator from the repository root into a
// temporary directory, or returns $BSS_SIMULATOR when it names a binary.
func buildSimulator(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("BSS_SIMULATOR"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "bss-simulator")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bss-simulator")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/bss-simulator: %v\n%s", err, out)
	}
	return bin
}

// simulator is a bss-simulator process listening on loopback.
type simulator struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited

	mu  sync.Mutex
	log []string // the last lines of its stderr
}

// listeningRE finds the address in the simulator's "bss-simulator
// listening" log line (log/slog's text format).
var listeningRE = regexp.MustCompile(`msg="bss-simulator listening" addr=(\S+)`)

// startSimulator starts bin on a port the kernel picks on 127.0.0.1 with
// args, waits until it listens, and stops it when the test ends.
func startSimulator(t *testing.T, bin string, args ...string) *simulator {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0"}, args...)...) //nolint:gosec // G204: the binary this test built.
	setProcAttr(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	s := &simulator{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log = append(s.log, line)
			if len(s.log) > 200 {
				s.log = s.log[len(s.log)-200:]
			}
			s.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("the end of the simulator's log:\n%s", s.tail(30))
		}
	})
	select {
	case a := <-addr:
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			t.Fatalf("the simulator listens on %q, not on loopback", a)
		}
		s.url = "http://" + a
	case <-s.done:
		t.Fatalf("the simulator exited before listening:\n%s", s.tail(30))
	case <-time.After(30 * time.Second):
		t.Fatalf("the simulator did not listen within 30s:\n%s", s.tail(30))
	}
	return s
}

// stop ends the process with SIGINT (it shuts down gracefully), then kills
// it after 10 s.
func (s *simulator) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("interrupting the simulator: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Errorf("the simulator did not stop within 10s of SIGINT; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *simulator) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := s.log[max(0, len(s.log)-n):]
	return strings.Join(lines, "\n")
}

// admin sends an unsigned /_sim/ request with a JSON body (nil for none)
// and decodes the answer into out (nil to ignore it).
func (s *simulator) admin(t *testing.T, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := loopbackClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

// simState is the part of GET /_sim/state the suite reads.
type simState struct {
	SimTime time.Time `json:"sim_time"`
	Masters []struct {
		Cash string `json:"cash"`
	} `json:"masters"`
	SubAccounts []stateSub   `json:"sub_accounts"`
	Orders      []stateOrder `json:"orders"`
	SMSCodes    []struct {
		MobilePhone string `json:"mobile_phone"`
		Code        string `json:"code"`
	} `json:"sms_codes"`
}

// stateSub is a sub-account in GET /_sim/state.
type stateSub struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	OrgID           string `json:"org_id"`
	ReclaimableCash string `json:"reclaimable_cash"`
	SelfFundedCash  string `json:"self_funded_cash"`
}

// stateOrder is an order in GET /_sim/state.
type stateOrder struct {
	OrderID             string `json:"order_id"`
	Status              int    `json:"status"`
	PaymentTime         string `json:"payment_time"`
	AmountAfterDiscount string `json:"amount_after_discount"`
	CouponAmount        string `json:"coupon_amount"`
}

// order returns the order id, or one with no fields set.
func (st simState) order(id string) stateOrder {
	for _, o := range st.Orders {
		if o.OrderID == id {
			return o
		}
	}
	return stateOrder{}
}

// sub returns the sub-account id, or one with no fields set.
func (st simState) sub(id string) stateSub {
	for _, sa := range st.SubAccounts {
		if sa.ID == id {
			return sa
		}
	}
	return stateSub{}
}

// smsCode returns the last verification code sent to phone.
func (s *simulator) smsCode(t *testing.T, phone string) string {
	t.Helper()
	code := ""
	for _, c := range s.state(t).SMSCodes {
		if c.MobilePhone == phone {
			code = c.Code
		}
	}
	if code == "" {
		t.Fatalf("the simulator sent no verification code to %s", phone)
	}
	return code
}

func (s *simulator) state(t *testing.T) simState {
	t.Helper()
	var st simState
	s.admin(t, http.MethodGet, "/_sim/state", nil, &st)
	return st
}

// loopbackClient talks to loopback only and never through a proxy.
var loopbackClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{Proxy: nil, DialContext: dialLoopback},
}

// dialLoopback refuses every address that is not a loopback IP, so that no
// request of this suite can leave the machine.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("refusing to dial %s: this suite talks to loopback only", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
