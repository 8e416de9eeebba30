package bss

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// ListAllCosts sends the documented body, pages by offset, and counts a
// row that a shifting list shows on two pages once.
func TestListAllCostsPagesAndBody(t *testing.T) {
	row := func(id, amount string) string {
		return `{"dimensions":[{"key":"ASSOCIATED_ACCOUNT","value":"` + id + `"}],"costs":[{"time_dimension_value":"2026-12-05","time_measure_id":1,"amount":"` + amount + `","official_amount":"` + amount + `"}],"amount_by_costs":"` + amount + `","official_amount_by_costs":"` + amount + `"}`
	}
	var rows []string
	for i := range 150 {
		rows = append(rows, row(fmt.Sprintf("cust-%03d", i), "1.00"))
	}
	f := newFakeBSS(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req struct {
			Offset int `json:"offset"`
			Limit  int `json:"limit"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		lo := req.Offset
		if lo > 0 {
			lo-- // the list shifted: the last row of page 1 shows again
		}
		hi := min(req.Offset+req.Limit, len(rows))
		writeJSON(w, http.StatusOK, `{"currency":"CNY","total_count":150,"cost_data":[`+strings.Join(rows[lo:hi], ",")+`]}`)
	})
	c := newTestClient(t, f)
	got, err := c.ListAllCosts(context.Background(), CostsRequest{
		TimeMeasureID: TimeMeasureDay, BeginTime: "2026-11-01", EndTime: "2026-12-07", GroupBy: []string{DimensionAccount},
		CostType: CostTypeAmortized, AmountType: AmountTypePayment,
		Filters: []CostFilter{{Operator: FilterExclude, Key: DimensionService, Values: []string{"hws.service.type.cdn"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 || f.count() != 2 {
		t.Fatalf("%d rows in %d calls, want 150 in 2", len(got), f.count())
	}
	reqs := f.requests()
	if reqs[0].Method != http.MethodPost || reqs[0].Path != pathCosts {
		t.Fatalf("request %s %s", reqs[0].Method, reqs[0].Path)
	}
	want := `{"time_condition":{"time_measure_id":1,"begin_time":"2026-11-01","end_time":"2026-12-07"},"groupby":[{"type":"dimension","key":"ASSOCIATED_ACCOUNT"}],"cost_type":"AMORTIZED_COST","amount_type":"PAYMENT_AMOUNT","offset":0,"limit":100,"filters":[{"operator":1,"filter_factor":{"key":"CLOUD_SERVICE_TYPE","value":["hws.service.type.cdn"]}}]}`
	if got := strings.TrimSpace(string(reqs[0].Body)); got != want {
		t.Fatalf("body\n%s\nwant\n%s", got, want)
	}
	if _, err := c.ListCosts(context.Background(), CostsRequest{TimeMeasureID: 3, BeginTime: "2026-11", EndTime: "2026-12"}); err == nil {
		t.Fatal("a time measure other than day or month was sent")
	}
}
