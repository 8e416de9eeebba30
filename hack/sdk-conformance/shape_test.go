package sdkconformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2/model"
	"github.com/shopspring/decimal"
)

// The SDK decodes a field only when the JSON type matches the Go type of
// its model (a string "1" into *int32 fails the whole response), and it
// ignores fields its model does not have. checkShape is stricter than the
// SDK in one way: a field the model does not know is an error too, because
// real BSS sends only what the API definition the models are generated from
// lists, and a client must not come to rely on a simulator-only field.

var (
	decimalType     = reflect.TypeFor[decimal.Decimal]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// jsonName returns a struct field's JSON name ("" when it is not encoded)
// and whether it has omitempty.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag, ok := f.Tag.Lookup("json")
	if !ok {
		return f.Name, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", false
	}
	if name == "" {
		name = f.Name
	}
	return name, slices.Contains(strings.Split(opts, ","), "omitempty")
}

// checkShape compares a JSON body with the Go type t that the SDK decodes it
// into and returns every difference. It adds the path of every field that
// is present and not null to seen (array elements as "[]").
func checkShape(body []byte, t reflect.Type, seen map[string]bool) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []string{fmt.Sprintf("the body is not JSON: %v", err)}
	}
	var errs []string
	walkShape("", v, t, seen, &errs)
	return errs
}

func walkShape(path string, v any, t reflect.Type, seen map[string]bool, errs *[]string) {
	bad := func(format string, args ...any) {
		where := path
		if where == "" {
			where = "(body)"
		}
		*errs = append(*errs, where+": "+fmt.Sprintf(format, args...))
	}
	if v == nil {
		if t.Kind() != reflect.Pointer && t.Kind() != reflect.Slice && t.Kind() != reflect.Map && t.Kind() != reflect.Interface {
			bad("null, but the model's %s is required", t)
		}
		return
	}
	if path != "" && seen != nil {
		seen[path] = true
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == decimalType {
		if _, ok := v.(json.Number); !ok {
			bad("%s, want a JSON number (the model has decimal.Decimal)", jsonKind(v))
		}
		return
	}
	if t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(unmarshalerType) {
		return // a type with its own decoding (SDK enums); nothing to compare
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("%s, want a JSON string (the model has %s)", jsonKind(v), t)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("%s, want a JSON boolean", jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			bad("%s, want a JSON integer (the model has %s)", jsonKind(v), t)
			return
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			bad("%s is not an integer that fits %s", n, t)
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			bad("%s, want a JSON number (the model has %s)", jsonKind(v), t)
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			bad("%s, want a JSON array (the model has %s)", jsonKind(v), t)
			return
		}
		for _, e := range a {
			walkShape(path+"[]", e, t.Elem(), seen, errs)
		}
	case reflect.Map:
		o, ok := v.(map[string]any)
		if !ok {
			bad("%s, want a JSON object (the model has %s)", jsonKind(v), t)
			return
		}
		for k, e := range o {
			walkShape(joinPath(path, k), e, t.Elem(), seen, errs)
		}
	case reflect.Struct:
		o, ok := v.(map[string]any)
		if !ok {
			bad("%s, want a JSON object (the model has %s)", jsonKind(v), t)
			return
		}
		fields := map[string]reflect.StructField{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, omitempty := jsonName(f)
			if name == "" {
				continue
			}
			fields[name] = f
			if _, present := o[name]; !present && !omitempty && f.Type.Kind() != reflect.Pointer {
				bad("the model's required field %s is missing", name)
			}
		}
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				*errs = append(*errs, fmt.Sprintf("%s: the model %s has no field %q", orBody(path), t.Name(), k))
				continue
			}
			walkShape(joinPath(path, k), o[k], f.Type, seen, errs)
		}
	case reflect.Interface:
	default:
		bad("the model's type %s is not handled by checkShape", t)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orBody(path string) string {
	if path == "" {
		return "(body)"
	}
	return path
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("a JSON string %q", v)
	case json.Number:
		return "a JSON number " + v.String()
	case bool:
		return "a JSON boolean"
	case []any:
		return "a JSON array"
	case map[string]any:
		return "a JSON object"
	}
	return fmt.Sprintf("%T", v)
}

// modelPaths lists the JSON paths of every body field of the model t, the
// way checkShape records them. A struct type that encloses itself
// (EmChildNodeV2.child_nodes) is listed one level deep.
func modelPaths(t reflect.Type) []string {
	var out []string
	var walk func(path string, t reflect.Type, open map[reflect.Type]bool)
	walk = func(path string, t reflect.Type, open map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				path += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == decimalType || open[t] || reflect.PointerTo(t).Implements(unmarshalerType) {
			return
		}
		open[t] = true
		defer delete(open, t)
		for i := range t.NumField() {
			f := t.Field(i)
			name, _ := jsonName(f)
			if name == "" {
				continue
			}
			p := joinPath(path, name)
			out = append(out, p)
			walk(p, f.Type, open)
		}
	}
	walk("", t, map[reflect.Type]bool{})
	slices.Sort(out)
	return out
}

// --- tests of the checker itself ---

func TestCheckShapeFindsTypeMismatches(t *testing.T) {
	rt := reflect.TypeFor[model.ListCustomerOrdersResponse]()
	tests := []struct {
		name, body string
		want       []string
	}{
		{"conforming", `{"total_count":1,"order_infos":[{"order_type":1,"amount_after_discount":1.50,"amount_info":{"discounts":[{"discount_type":"605","discount_amount":0.5}]},"enterprise_projects":[]}]}`, nil},
		{"order_type as a string", `{"order_infos":[{"order_type":"1"}]}`, []string{`order_infos[].order_type: a JSON string "1", want a JSON integer (the model has int32)`}},
		{"order_type with a fraction", `{"order_infos":[{"order_type":1.5}]}`, []string{`order_infos[].order_type: 1.5 is not an integer that fits int32`}},
		{"amount as a string", `{"order_infos":[{"amount_after_discount":"1.50"}]}`, []string{`order_infos[].amount_after_discount: a JSON string "1.50", want a JSON number (the model has float64)`}},
		{"discount_type as a number", `{"order_infos":[{"amount_info":{"discounts":[{"discount_type":605}]}}]}`, []string{`order_infos[].amount_info.discounts[].discount_type: a JSON number 605, want a JSON string (the model has string)`}},
		{"unknown field", `{"order_infos":[{"trade_type":"x"}]}`, []string{`order_infos[]: the model CustomerOrderV2 has no field "trade_type"`}},
		{"object for an array", `{"order_infos":{}}`, []string{`order_infos: a JSON object, want a JSON array (the model has []model.CustomerOrderV2)`}},
		{"null is absent", `{"order_infos":null}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkShape([]byte(tc.body), rt, nil); !slices.Equal(got, tc.want) {
				t.Errorf("checkShape = %q, want %q", got, tc.want)
			}
		})
	}
	bal := reflect.TypeFor[model.ShowCustomerAccountBalancesResponse]()
	got := checkShape([]byte(`{"account_balances":[{"account_type":1,"amount":"1.00","measure_id":1,"currency":null}]}`), bal, nil)
	want := []string{
		`account_balances[]: the model's required field account_id is missing`,
		`account_balances[].amount: a JSON string "1.00", want a JSON number (the model has decimal.Decimal)`,
		`account_balances[].currency: null, but the model's string is required`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("checkShape(balances) = %q, want %q", got, want)
	}
}

func TestModelPaths(t *testing.T) {
	got := modelPaths(reflect.TypeFor[model.ListEnterpriseOrganizationsResponse]())
	want := []string{
		"child_nodes", "child_nodes[].child_nodes", "child_nodes[].id", "child_nodes[].name", "child_nodes[].relation_id",
		"root_id", "root_name",
	}
	if !slices.Equal(got, want) {
		t.Errorf("modelPaths = %q, want %q", got, want)
	}
}

// TestSDKRejectsStringOrderType shows why the shapes matter: the SDK fails
// the whole ListCustomerOrders response over one order_type sent as a
// string, which is what the simulator did before this suite existed.
func TestSDKRejectsStringOrderType(t *testing.T) {
	body := `{"total_count":1,"order_infos":[{"order_id":"CS1","order_type":"1"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-1")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	client := newSDKClient(t, srv.URL, newRecorder(), "SDKCTESTAK0000000001", "sk", "domain")
	_, err := client.ListCustomerOrders(&model.ListCustomerOrdersRequest{})
	var sre *sdkerr.ServiceResponseError
	if !errors.As(err, &sre) || sre.StatusCode != http.StatusOK || !strings.Contains(sre.ErrorMessage, "order_type") {
		t.Fatalf("ListCustomerOrders on a string order_type: %v, want a decoding error about order_type", err)
	}
	fixed := strings.Replace(body, `"order_type":"1"`, `"order_type":1`, 1)
	if errs := checkShape([]byte(fixed), reflect.TypeFor[model.ListCustomerOrdersResponse](), nil); len(errs) != 0 {
		t.Errorf("checkShape(fixed) = %q", errs)
	}
}
