package bsssim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/money"
)

// adminRoute is one /_sim/ operation.
type adminRoute struct {
	methods map[string]func(r *http.Request, body []byte) (int, any)
}

// adminError is the body of a failed admin request.
type adminError struct {
	Error string `json:"error"`
}

func adminErr(status int, format string, args ...any) (int, any) {
	return status, adminError{Error: fmt.Sprintf(format, args...)}
}

func (s *Sim) adminRoutes() map[string]adminRoute {
	return map[string]adminRoute{
		"/_sim/state":         {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodGet: s.adminState}},
		"/_sim/faults":        {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodGet: s.adminGetFaults, http.MethodPost: s.adminSetFaults}},
		"/_sim/behaviour":     {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodGet: s.adminGetBehaviour, http.MethodPost: s.adminSetBehaviour}},
		"/_sim/advance":       {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminAdvance}},
		"/_sim/orders":        {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminCreateOrder}},
		"/_sim/orders/status": {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminOrderStatus}},
		"/_sim/reset":         {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminReset}},
		"/_sim/funds":         {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminFunds}},
		"/_sim/subaccounts":   {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminAddSub}},
		"/_sim/consumption":   {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminConsumption}},
		"/_sim/check":         {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodGet: s.adminCheck}},
		"/_sim/coupons":       {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminAddCoupon}},
		"/_sim/orgs":          {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminAddOrg}},
		"/_sim/orgs/budget":   {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminOrgBudget}},
		"/_sim/cost-center":   {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodGet: s.adminGetCostCenter, http.MethodPost: s.adminSetCostCenter}},
		"/_sim/packages":      {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminAddPackage}},
		"/_sim/balances":      {methods: map[string]func(*http.Request, []byte) (int, any){http.MethodPost: s.adminBalances}},
	}
}

// isLoopback reports whether a RemoteAddr is a loopback address.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Sim) serveAdmin(w http.ResponseWriter, r *http.Request, routes map[string]adminRoute) {
	w.Header().Set("X-Request-Id", s.requestID())
	status, body := s.serveAdminRequest(r, routes)
	s.log.Debug("admin request", "method", r.Method, "path", r.URL.Path, "status", status)
	s.writeJSON(w, status, body)
}

func (s *Sim) serveAdminRequest(r *http.Request, routes map[string]adminRoute) (int, any) {
	if !isLoopback(r.RemoteAddr) {
		return adminErr(http.StatusForbidden, "the admin API only accepts loopback clients")
	}
	rt, ok := routes[r.URL.Path]
	if !ok {
		return adminErr(http.StatusNotFound, "unknown admin path %s", r.URL.Path)
	}
	h := rt.methods[r.Method]
	if h == nil {
		return adminErr(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return adminErr(http.StatusBadRequest, "reading the body: %v", err)
	}
	return h(r, body)
}

func decodeAdmin(body []byte, v any) error {
	if len(body) == 0 {
		return errors.New("a JSON body is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// adminState returns the whole state; secret keys are redacted.
func (s *Sim) adminState(_ *http.Request, _ []byte) (int, any) {
	st := s.Snapshot()
	for i := range st.Masters {
		st.Masters[i].SecretKey = redactKey(st.Masters[i].SecretKey)
	}
	for i := range st.SubAccounts {
		st.SubAccounts[i].SecretKey = redactKey(st.SubAccounts[i].SecretKey)
	}
	return http.StatusOK, st
}

func (s *Sim) adminGetFaults(_ *http.Request, _ []byte) (int, any) {
	return http.StatusOK, s.Faults()
}

func (s *Sim) adminSetFaults(_ *http.Request, body []byte) (int, any) {
	var f Faults
	if err := decodeAdmin(body, &f); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	if err := s.SetFaults(f); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	s.log.Info("faults changed", "faults", f)
	return http.StatusOK, s.Faults()
}

func (s *Sim) adminGetBehaviour(_ *http.Request, _ []byte) (int, any) {
	return http.StatusOK, s.Behaviour()
}

// adminSetBehaviour replaces the whole behaviour: a field left out takes
// its default. Unknown fields are refused, so that a misspelt switch does
// not silently leave the default in force.
func (s *Sim) adminSetBehaviour(_ *http.Request, body []byte) (int, any) {
	var b Behaviour
	if len(body) == 0 {
		return adminErr(http.StatusBadRequest, "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return adminErr(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if err := s.SetBehaviour(b); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	got := s.Behaviour()
	s.log.Info("behaviour changed", "behaviour", got.String())
	return http.StatusOK, got
}

type advanceBody struct {
	Duration Duration `json:"duration"`
}

type advanceResp struct {
	SimTime    time.Time `json:"sim_time"`
	TimeOffset Duration  `json:"time_offset"`
}

func (s *Sim) adminAdvance(_ *http.Request, body []byte) (int, any) {
	var b advanceBody
	if err := decodeAdmin(body, &b); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	if b.Duration <= 0 {
		return adminErr(http.StatusBadRequest, "duration must be positive, such as \"24h\"")
	}
	s.Advance(time.Duration(b.Duration))
	s.mu.Lock()
	resp := advanceResp{SimTime: s.simNowLocked(), TimeOffset: s.st.TimeOffset}
	s.mu.Unlock()
	s.log.Info("simulated time advanced", "by", time.Duration(b.Duration), "sim_time", resp.SimTime)
	return http.StatusOK, resp
}

func (s *Sim) adminCreateOrder(_ *http.Request, body []byte) (int, any) {
	var o Order
	if err := decodeAdmin(body, &o); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	created, err := s.CreateOrder(o)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, created
}

type orderStatusBody struct {
	OrderID string `json:"order_id"`
	Status  int    `json:"status"`
}

func (s *Sim) adminOrderStatus(_ *http.Request, body []byte) (int, any) {
	var b orderStatusBody
	if err := decodeAdmin(body, &b); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	o, err := s.SetOrderStatus(b.OrderID, b.Status)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, o
}

func (s *Sim) adminReset(_ *http.Request, _ []byte) (int, any) {
	s.Reset()
	s.log.Info("state reset to the seed")
	return http.StatusOK, map[string]string{"status": "reset"}
}

type fundsBody struct {
	Amount     json.RawMessage `json:"amount"`
	DomainID   string          `json:"domain_id"`
	CustomerID string          `json:"customer_id"`
}

func (s *Sim) adminFunds(_ *http.Request, body []byte) (int, any) {
	var b fundsBody
	if err := decodeAdmin(body, &b); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	amount, aerr := parseAmount("amount", b.Amount)
	if aerr != nil {
		return adminErr(http.StatusBadRequest, "%v", aerr)
	}
	if b.CustomerID != "" {
		if err := s.AddSubFunds(b.CustomerID, amount); err != nil {
			return adminErr(http.StatusBadRequest, "%v", err)
		}
		bal, _ := s.SubAccount(b.CustomerID)
		return http.StatusOK, map[string]string{"customer_id": b.CustomerID, "self_funded_cash": bal.SelfFundedCash.String(), "cash": bal.Cash.String()}
	}
	if err := s.AddFunds(b.DomainID, amount); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	m, _ := s.Master(b.DomainID)
	s.log.Info("funds added", "domain_id", m.DomainID, "amount", amount.String())
	return http.StatusOK, map[string]string{"domain_id": m.DomainID, "cash": m.Cash.String(), "added": m.Totals.Added.String()}
}

func (s *Sim) adminAddSub(_ *http.Request, body []byte) (int, any) {
	var sa SubAccount
	if err := decodeAdmin(body, &sa); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	created, err := s.AddSubAccount(sa)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	created.SecretKey = redactKey(created.SecretKey)
	return http.StatusOK, created
}

type consumptionBody struct {
	CustomerID string          `json:"customer_id"`
	Rate       json.RawMessage `json:"rate"`
}

func (s *Sim) adminConsumption(_ *http.Request, body []byte) (int, any) {
	var b consumptionBody
	if err := decodeAdmin(body, &b); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	var rs string
	if err := json.Unmarshal(b.Rate, &rs); err != nil {
		return adminErr(http.StatusBadRequest, "rate must be a string of yuan per hour, such as \"2.50\"")
	}
	rate, err := money.Parse(rs)
	if err != nil {
		return adminErr(http.StatusBadRequest, "rate: %v", err)
	}
	if err := s.SetConsumptionRate(b.CustomerID, rate); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, map[string]string{"customer_id": b.CustomerID, "rate": rate.String()}
}

type checkResp struct {
	OK     bool     `json:"ok"`
	Errors []string `json:"errors"`
}

func (s *Sim) adminCheck(_ *http.Request, _ []byte) (int, any) {
	resp := checkResp{OK: true, Errors: []string{}}
	for _, err := range []error{s.CheckConservation(), s.CheckLedger(), s.CheckCosts()} {
		if err != nil {
			resp.OK = false
			resp.Errors = append(resp.Errors, err.Error())
		}
	}
	return http.StatusOK, resp
}

// AddSubAccount adds a sub-account (as if created in the console). Empty
// fields get defaults: a generated id, the first master, status 1, the
// master's root org, READ_FINANCE_INFO and READ_CONSUME_BILL, and
// DefaultServiceTypeCode. Balances must be zero; fund the account with
// transfers or AddSubFunds.
func (s *Sim) AddSubAccount(sa SubAccount) (SubAccount, error) {
	if sa.Name == "" {
		return SubAccount{}, errors.New("name is required")
	}
	if !customerNameRE.MatchString(sa.Name) {
		return SubAccount{}, fmt.Errorf("name %q is not a valid account name", sa.Name)
	}
	if !sa.ReclaimableCash.IsZero() || !sa.SelfFundedCash.IsZero() || len(sa.CreditLedgers) > 0 {
		return SubAccount{}, errors.New("a new sub-account starts without money: use transfers or /_sim/funds")
	}
	if sa.ConsumptionRate != nil && sa.ConsumptionRate.IsNegative() {
		return SubAccount{}, errors.New("consumption_rate must not be negative")
	}
	now := s.lock()
	defer s.unlock()
	m := s.masterLocked(sa.DomainID)
	if m == nil {
		return SubAccount{}, fmt.Errorf("unknown master %q", sa.DomainID)
	}
	sa.DomainID = m.DomainID
	if sa.ID == "" {
		sa.ID = s.nextHexLocked("sub")
	}
	for _, x := range s.st.SubAccounts {
		if x.ID == sa.ID || x.Name == sa.Name {
			return SubAccount{}, fmt.Errorf("a sub-account with id %q or name %q already exists", sa.ID, sa.Name)
		}
		if sa.AccessKey != "" && x.AccessKey == sa.AccessKey {
			return SubAccount{}, errors.New("access_key is already in use")
		}
	}
	for _, x := range s.st.Masters {
		if x.DomainID == sa.ID || x.Name == sa.Name || (sa.AccessKey != "" && x.AccessKey == sa.AccessKey) {
			return SubAccount{}, errors.New("id, name or access_key collides with a master account")
		}
	}
	if sa.AccessKey != "" && sa.SecretKey == "" {
		return SubAccount{}, errors.New("secret_key is required with access_key")
	}
	if sa.OrgID == "" {
		sa.OrgID = m.RootOrgID
	} else if sa.OrgID != m.RootOrgID && s.orgLocked(m.DomainID, sa.OrgID) == nil {
		return SubAccount{}, fmt.Errorf("unknown org_id %q", sa.OrgID)
	}
	if sa.Status == 0 {
		sa.Status = SubStatusNormal
	}
	if sa.PermissionIDs == nil {
		sa.PermissionIDs = []string{"READ_FINANCE_INFO", "READ_CONSUME_BILL"}
	}
	if sa.ServiceTypeCode == "" {
		sa.ServiceTypeCode = DefaultServiceTypeCode
	}
	sa.CreatedAt = now
	sa.ReadyAt, sa.ConsumedUntil, sa.ConsumptionCarry = nil, nil, 0
	if sa.Status == SubStatusCreating {
		ready := now.Add(max(s.opts.CreationDelay, 0))
		sa.ReadyAt = &ready
	}
	s.st.SubAccounts = append(s.st.SubAccounts, sa.deepCopy())
	s.dirty = true
	s.catchUpLocked(now)
	s.log.Info("sub-account added", "customer_id", sa.ID, "name", sa.Name)
	return sa.deepCopy(), nil
}

// SetConsumptionRate sets a sub-account's spend in yuan per simulated
// hour (zero stops it). Consumption up to now is applied with the old rate.
func (s *Sim) SetConsumptionRate(customerID string, rate money.Amount) error {
	if rate.IsNegative() {
		return errors.New("rate must not be negative")
	}
	now := s.lock()
	defer s.unlock()
	sa := s.subLocked(customerID)
	if sa == nil {
		return fmt.Errorf("unknown sub-account %q", customerID)
	}
	sa.ConsumptionRate = &rate
	s.dirty = true
	s.catchUpLocked(now)
	return nil
}

var orderStatuses = []int{1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13}

// CreateOrder adds an order. CustomerID is required (a sub-account id or a
// master's domain id); empty fields get defaults: a generated order id,
// type "1" (new), status 6 (pending payment), the current simulated time,
// DefaultServiceTypeCode, an official amount equal to the amount after
// discount, and one monthly line item; a line item's empty service name,
// product owner service and commercial resource are derived from its
// service type code. Discounts, enterprise projects and sub-orders (of a
// combined-transaction order) are kept as given; a sub-order inherits the
// order's customer, type, status, creation time and service when it names
// none.
// Orders never move money.
func (s *Sim) CreateOrder(o Order) (Order, error) {
	if o.CustomerID == "" {
		return Order{}, errors.New("customer_id is required")
	}
	if o.AmountAfterDiscount.IsNegative() || o.OfficialAmount.IsNegative() {
		return Order{}, errors.New("amounts must not be negative")
	}
	o = o.deepCopy() // defaults are filled in place
	now := s.lock()
	defer s.unlock()
	if m := s.masterLocked(o.CustomerID); m != nil && m.DomainID == o.CustomerID {
		o.DomainID = m.DomainID
	} else if sa := s.subLocked(o.CustomerID); sa != nil {
		o.DomainID = sa.DomainID
	} else {
		return Order{}, fmt.Errorf("unknown customer_id %q", o.CustomerID)
	}
	taken := map[string]bool{}
	if err := s.fillOrderLocked(&o, nil, now, taken); err != nil {
		return Order{}, err
	}
	if err := checkDiscountOffers(o); err != nil {
		return Order{}, err
	}
	for i := range o.SubOrders {
		so := &o.SubOrders[i]
		if len(so.SubOrders) > 0 {
			return Order{}, fmt.Errorf("sub-order %q: sub-orders do not nest", so.OrderID)
		}
		if so.CustomerID == "" {
			so.CustomerID = o.CustomerID
		} else if so.CustomerID != o.DomainID {
			if sa := s.subLocked(so.CustomerID); sa == nil || sa.DomainID != o.DomainID {
				return Order{}, fmt.Errorf("sub-order %q: unknown customer_id %q", so.OrderID, so.CustomerID)
			}
		}
		so.DomainID = o.DomainID
		if so.Status == 0 {
			so.Status = o.Status
		}
		if so.CreateTime.IsZero() {
			so.CreateTime = o.CreateTime
		}
		if so.ServiceTypeCode == "" {
			so.ServiceTypeCode = o.ServiceTypeCode
		}
		if err := s.fillOrderLocked(so, &o, now, taken); err != nil {
			return Order{}, fmt.Errorf("sub-order: %w", err)
		}
	}
	s.st.Orders = append(s.st.Orders, o.deepCopy())
	s.dirty = true
	s.log.Info("order created", "order_id", o.OrderID, "customer_id", o.CustomerID, "status", o.Status)
	return o.deepCopy(), nil
}

// fillOrderLocked validates o and fills its defaults (see CreateOrder);
// parent is the combined-transaction order of a sub-order. taken holds the
// ids given out by this call.
func (s *Sim) fillOrderLocked(o *Order, parent *Order, now time.Time, taken map[string]bool) error {
	idTaken := func(id string) bool { return taken[id] || s.orderIDTakenLocked(id) }
	if o.OrderID == "" {
		o.OrderID = s.nextDigitsLocked("CS", 14, idTaken)
	} else if idTaken(o.OrderID) {
		return fmt.Errorf("order %q already exists", o.OrderID)
	}
	taken[o.OrderID] = true
	if o.AmountAfterDiscount.IsNegative() || o.OfficialAmount.IsNegative() || o.CouponAmount.IsNegative() {
		return fmt.Errorf("order %q: amounts must not be negative", o.OrderID)
	}
	if o.OrderType == "" {
		o.OrderType = OrderTypeNew
		if parent != nil {
			o.OrderType = parent.OrderType
		}
	}
	if !isDigits(o.OrderType) {
		return fmt.Errorf("order_type %q must be a number such as \"1\" (new) or \"2\" (renewal)", o.OrderType)
	}
	if o.Status == 0 {
		o.Status = OrderPendingPayment
	}
	if !slices.Contains(orderStatuses, o.Status) {
		return fmt.Errorf("unknown order status %d", o.Status)
	}
	if o.ServiceTypeCode == "" {
		o.ServiceTypeCode = DefaultServiceTypeCode
	}
	if o.ServiceTypeName == "" {
		o.ServiceTypeName = serviceName(o.ServiceTypeCode)
	}
	if o.OfficialAmount.IsZero() {
		o.OfficialAmount = o.AmountAfterDiscount
	}
	if o.SourceType == 0 {
		o.SourceType = 1
	}
	if o.CreateTime.IsZero() {
		o.CreateTime = now
	}
	o.CreateTime = o.CreateTime.UTC()
	applyOrderStatusTimes(o)
	for _, d := range o.Discounts {
		if !isDigits(d.DiscountType) || d.DiscountAmount.IsNegative() {
			return fmt.Errorf("order %q: a discount needs a numeric discount_type such as \"301\" and a non-negative discount_amount", o.OrderID)
		}
	}
	if len(o.LineItems) == 0 {
		o.LineItems = []OrderLineItem{defaultLineItem(*o)}
	}
	for i := range o.LineItems {
		li := &o.LineItems[i]
		if li.ID == "" {
			li.ID = fmt.Sprintf("%s-%d", o.OrderID, i+1)
		}
		if li.ServiceTypeCode == "" {
			li.ServiceTypeCode = o.ServiceTypeCode
		}
		if li.ServiceTypeName == "" {
			li.ServiceTypeName = serviceName(li.ServiceTypeCode)
		}
		if li.ProductOwnerService == "" {
			li.ProductOwnerService = li.ServiceTypeCode
		}
		if li.CommercialResource == "" {
			li.CommercialResource = resourceTypeOf(li.ServiceTypeCode)
		}
		for _, d := range li.Discounts {
			if !isDigits(d.DiscountType) || d.DiscountAmount.IsNegative() {
				return fmt.Errorf("order %q line %q: a discount needs a numeric discount_type and a non-negative discount_amount", o.OrderID, li.ID)
			}
		}
	}
	return nil
}

// orderIDTakenLocked reports whether an order or sub-order has id.
func (s *Sim) orderIDTakenLocked(id string) bool {
	var in func(orders []Order) bool
	in = func(orders []Order) bool {
		for _, o := range orders {
			if o.OrderID == id || in(o.SubOrders) {
				return true
			}
		}
		return false
	}
	return in(s.st.Orders)
}

// SetOrderStatus changes the status of an order (for example from 6,
// pending payment, to 5, completed).
func (s *Sim) SetOrderStatus(orderID string, status int) (Order, error) {
	if !slices.Contains(orderStatuses, status) {
		return Order{}, fmt.Errorf("unknown order status %d", status)
	}
	now := s.lock()
	defer s.unlock()
	i := s.orderIndexLocked(orderID)
	if i < 0 {
		return Order{}, fmt.Errorf("unknown order %q", orderID)
	}
	o := &s.st.Orders[i]
	o.Status = status
	if status == OrderCompleted || status == OrderProcessing {
		if o.PaymentTime == nil {
			o.PaymentTime = &now
		}
		o.PendingPaymentEndTime = nil
	}
	s.dirty = true
	return o.deepCopy(), nil
}

func applyOrderStatusTimes(o *Order) {
	switch o.Status {
	case OrderCompleted, OrderProcessing:
		if o.PaymentTime == nil {
			t := o.CreateTime.Add(time.Minute)
			o.PaymentTime = &t
		}
	case OrderPendingPayment:
		if o.PendingPaymentEndTime == nil {
			t := o.CreateTime.Add(7 * 24 * time.Hour)
			o.PendingPaymentEndTime = &t
		}
	}
}

func (s *Sim) orderIndexLocked(id string) int {
	for i := range s.st.Orders {
		if s.st.Orders[i].OrderID == id {
			return i
		}
	}
	return -1
}

func (s *Sim) adminAddCoupon(_ *http.Request, body []byte) (int, any) {
	var c Coupon
	if err := decodeAdmin(body, &c); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	created, err := s.AddCoupon(c)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, created
}

// AddCoupon adds a transferable cash coupon to a master (as if Huawei had
// issued it). Its balance counts as money added. Empty fields get
// defaults: a generated id, the first master, the plan name "Cash
// voucher", the current simulated time as effective time, one year later
// as expiry, and use limit ids "<coupon id>-<n>".
func (s *Sim) AddCoupon(c Coupon) (Coupon, error) {
	if !c.Balance.IsPositive() {
		return Coupon{}, errors.New("balance must be greater than 0")
	}
	for i, l := range c.UseLimits {
		if l.LimitKey == "" {
			return Coupon{}, fmt.Errorf("use_limits[%d]: limit_key is required", i)
		}
	}
	now := s.lock()
	defer s.unlock()
	m := s.masterLocked(c.DomainID)
	if m == nil {
		return Coupon{}, fmt.Errorf("unknown master %q", c.DomainID)
	}
	c.DomainID = m.DomainID
	if c.ID == "" {
		c.ID = s.nextDigitsLocked("CP", 13, s.idTakenLocked)
	} else if s.idTakenLocked(c.ID) {
		return Coupon{}, fmt.Errorf("a coupon or sub-coupon %q already exists", c.ID)
	}
	if c.PlanName == "" {
		c.PlanName = "Cash voucher"
	}
	if c.CouponType != 0 && c.CouponType != CouponCashVoucher && c.CouponType != CouponFlexiPurchase {
		return Coupon{}, fmt.Errorf("coupon_type %d: the simulator models 1 (cash voucher) and 4 (flexi-purchase coupon)", c.CouponType)
	}
	if c.FaceValue.IsZero() {
		c.FaceValue = c.Balance
	}
	if c.EffectiveTime.IsZero() {
		c.EffectiveTime = now
	}
	if c.ExpireTime.IsZero() {
		c.ExpireTime = c.EffectiveTime.AddDate(1, 0, 0)
	}
	c.EffectiveTime, c.ExpireTime = c.EffectiveTime.UTC().Truncate(time.Second), c.ExpireTime.UTC().Truncate(time.Second)
	if !c.ExpireTime.After(c.EffectiveTime) {
		return Coupon{}, errors.New("expire_time must be after effective_time")
	}
	c.UseLimits = slices.Clone(c.UseLimits)
	for i := range c.UseLimits {
		if c.UseLimits[i].ID == "" {
			c.UseLimits[i].ID = fmt.Sprintf("%s-%d", c.ID, i+1)
		}
	}
	m.Totals.Added = m.Totals.Added.Add(c.Balance)
	s.st.Coupons = append(s.st.Coupons, c)
	s.dirty = true
	s.log.Info("coupon added", "coupon_id", c.ID, "domain_id", m.DomainID, "balance", c.Balance.String())
	c.UseLimits = slices.Clone(c.UseLimits)
	return c, nil
}

func (s *Sim) adminAddOrg(_ *http.Request, body []byte) (int, any) {
	var o OrgUnit
	if err := decodeAdmin(body, &o); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	created, err := s.AddOrg(o)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, created
}

// AddOrg adds an organization unit below the root of a master (the first
// when DomainID is empty) or below ParentID. Empty fields get defaults: a
// generated 10-digit Party ID and the relation id "rel-<id>".
func (s *Sim) AddOrg(o OrgUnit) (OrgUnit, error) {
	if o.Name == "" {
		return OrgUnit{}, errors.New("name is required")
	}
	if o.ID != "" && !digitsRE.MatchString(o.ID) {
		return OrgUnit{}, fmt.Errorf("id %q must contain digits only (a Party ID)", o.ID)
	}
	s.lock()
	defer s.unlock()
	m := s.masterLocked(o.DomainID)
	if m == nil {
		return OrgUnit{}, fmt.Errorf("unknown master %q", o.DomainID)
	}
	o.DomainID = m.DomainID
	taken := func(id string) bool {
		for _, x := range s.st.Masters {
			if x.RootOrgID == id {
				return true
			}
		}
		for _, x := range s.st.Orgs {
			if x.ID == id {
				return true
			}
		}
		return false
	}
	if o.ID == "" {
		o.ID = s.nextDigitsLocked("", 10, taken)
	} else if taken(o.ID) {
		return OrgUnit{}, fmt.Errorf("org %q already exists", o.ID)
	}
	if o.ParentID == m.RootOrgID {
		o.ParentID = ""
	}
	if o.ParentID != "" && s.orgLocked(m.DomainID, o.ParentID) == nil {
		return OrgUnit{}, fmt.Errorf("unknown parent_id %q", o.ParentID)
	}
	if o.RelationID == "" {
		o.RelationID = "rel-" + o.ID
	}
	s.st.Orgs = append(s.st.Orgs, o)
	s.dirty = true
	s.log.Info("org unit added", "id", o.ID, "name", o.Name, "parent_id", o.ParentID)
	return o, nil
}

type orgBudgetBody struct {
	DomainID string          `json:"domain_id"`
	OrgID    string          `json:"org_id"`
	Budget   json.RawMessage `json:"budget"`
}

func (s *Sim) adminOrgBudget(_ *http.Request, body []byte) (int, any) {
	var b orgBudgetBody
	if err := decodeAdmin(body, &b); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	var budget *money.Amount
	if t := string(bytes.TrimSpace(b.Budget)); t != "" && t != "null" {
		var bs string
		if err := json.Unmarshal(b.Budget, &bs); err != nil {
			return adminErr(http.StatusBadRequest, "budget must be a string of yuan, such as \"500.00\", or null")
		}
		a, err := money.Parse(bs)
		if err != nil || a.IsNegative() {
			return adminErr(http.StatusBadRequest, "budget %q is not a non-negative amount", bs)
		}
		budget = &a
	}
	org, err := s.SetOrgBudget(b.DomainID, b.OrgID, budget)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, org
}

// SetOrgBudget sets (nil: removes) the payment budget of an org unit of
// the master domainID (the first when empty): PayOrders of orders of its
// sub-accounts answers CBC.99003198 once the payments would exceed it.
// What was paid before counts.
func (s *Sim) SetOrgBudget(domainID, orgID string, budget *money.Amount) (OrgUnit, error) {
	s.lock()
	defer s.unlock()
	m := s.masterLocked(domainID)
	if m == nil {
		return OrgUnit{}, fmt.Errorf("unknown master %q", domainID)
	}
	o := s.orgLocked(m.DomainID, orgID)
	if o == nil {
		return OrgUnit{}, fmt.Errorf("unknown org_id %q", orgID)
	}
	o.PaymentBudget = clonePtr(budget)
	s.dirty = true
	c := *o
	c.PaymentBudget = clonePtr(o.PaymentBudget)
	return c, nil
}

// adminGetCostCenter returns the Cost Center configuration of the master
// named by ?domain_id= (the first when absent).
func (s *Sim) adminGetCostCenter(r *http.Request, _ []byte) (int, any) {
	domainID := r.URL.Query().Get("domain_id")
	cfg, ok := s.CostCenter(domainID)
	if !ok {
		return adminErr(http.StatusBadRequest, "unknown master %q", domainID)
	}
	return http.StatusOK, cfg
}

// adminSetCostCenter changes a master's Cost Center configuration: fields
// left out are unchanged. Unknown fields are refused, so that a misspelt
// switch does not go unnoticed.
func (s *Sim) adminSetCostCenter(_ *http.Request, body []byte) (int, any) {
	var u CostCenterUpdate
	if len(body) == 0 {
		return adminErr(http.StatusBadRequest, "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return adminErr(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	cfg, err := s.SetCostCenter(u)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, cfg
}

func (s *Sim) adminAddPackage(_ *http.Request, body []byte) (int, any) {
	var p ResourcePackage
	if err := decodeAdmin(body, &p); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	created, err := s.AddPackage(p)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, created
}

// OtherBalances are the balances of an account besides cash and credit
// (ShowCustomerAccountBalances): nil fields are left as they are. They are
// not transferable and no part of the conservation check.
type OtherBalances struct {
	// Bonus is the bonus balance (account type 5).
	Bonus *money.Amount `json:"bonus,omitempty"`
	// Deposit is the deposit balance (account type 7).
	Deposit *money.Amount `json:"deposit,omitempty"`
	// Debt is the debt amount.
	Debt *money.Amount `json:"debt,omitempty"`
}

// SetOtherBalances sets the bonus, deposit and debt of an account: a
// master's domain id or a sub-account id ("" is the first master). It
// returns them as they are now.
func (s *Sim) SetOtherBalances(accountID string, b OtherBalances) (OtherBalances, error) {
	for name, a := range map[string]*money.Amount{"bonus": b.Bonus, "deposit": b.Deposit, "debt": b.Debt} {
		if a != nil && a.IsNegative() {
			return OtherBalances{}, fmt.Errorf("%s must not be negative", name)
		}
	}
	s.lock()
	defer s.unlock()
	var bonus, deposit, debt *money.Amount
	if m := s.masterLocked(accountID); m != nil && (accountID == "" || m.DomainID == accountID) {
		bonus, deposit, debt = &m.Bonus, &m.Deposit, &m.Debt
	} else if sa := s.subLocked(accountID); sa != nil {
		bonus, deposit, debt = &sa.Bonus, &sa.Deposit, &sa.Debt
	} else {
		return OtherBalances{}, fmt.Errorf("unknown account %q", accountID)
	}
	for dst, src := range map[*money.Amount]*money.Amount{bonus: b.Bonus, deposit: b.Deposit, debt: b.Debt} {
		if src != nil {
			*dst = *src
		}
	}
	s.dirty = true
	return OtherBalances{Bonus: clonePtr(bonus), Deposit: clonePtr(deposit), Debt: clonePtr(debt)}, nil
}

type otherBalancesBody struct {
	DomainID   string          `json:"domain_id"`
	CustomerID string          `json:"customer_id"`
	Bonus      json.RawMessage `json:"bonus"`
	Deposit    json.RawMessage `json:"deposit"`
	Debt       json.RawMessage `json:"debt"`
}

// adminBalances sets the bonus, deposit and debt of a master (domain_id,
// the first when empty) or of a sub-account (customer_id); each is a
// string of yuan such as "88.00", and one left out is unchanged.
func (s *Sim) adminBalances(_ *http.Request, body []byte) (int, any) {
	var b otherBalancesBody
	if err := decodeAdmin(body, &b); err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	var ob OtherBalances
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  **money.Amount
	}{{"bonus", b.Bonus, &ob.Bonus}, {"deposit", b.Deposit, &ob.Deposit}, {"debt", b.Debt, &ob.Debt}} {
		if t := string(bytes.TrimSpace(f.raw)); t == "" || t == "null" {
			continue
		}
		var v string
		if err := json.Unmarshal(f.raw, &v); err != nil {
			return adminErr(http.StatusBadRequest, "%s must be a string of yuan, such as \"88.00\"", f.name)
		}
		a, err := money.Parse(v)
		if err != nil {
			return adminErr(http.StatusBadRequest, "%s %q is not a non-negative amount", f.name, v)
		}
		*f.dst = &a
	}
	account := b.DomainID
	if b.CustomerID != "" {
		account = b.CustomerID
	}
	got, err := s.SetOtherBalances(account, ob)
	if err != nil {
		return adminErr(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, got
}
