// Package dashboards holds the operator's Grafana dashboard
// (bss-budget-operator.json). It has no code of its own: its tests check
// the dashboard and the Prometheus alerts in
// config/prometheus/prometheusrule.yaml, parsing every query and making
// sure that it uses only the metrics and labels the README documents,
// evaluate alerts on series that must make them fire and series that must
// not, and check that every metric internal/metrics defines is documented,
// in the README and in docs/metrics.md, with its type and labels.
package dashboards
