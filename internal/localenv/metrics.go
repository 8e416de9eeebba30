package localenv

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	// Name is the sample's metric name (for a histogram, with its _bucket,
	// _sum or _count suffix).
	Name string
	// Labels are the sample's labels.
	Labels map[string]string
	// Value is the sample's value.
	Value float64
}

// Metrics is a scrape: the declared families with their types, and the
// samples.
type Metrics struct {
	// Types maps a family name to its type from "# TYPE" lines.
	Types map[string]string
	// Samples are the sample lines in order.
	Samples []Sample
}

// ParseMetrics reads the Prometheus text exposition format.
func ParseMetrics(r io.Reader) (*Metrics, error) {
	m := &Metrics{Types: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if f := strings.Fields(line); len(f) >= 4 && f[1] == "TYPE" {
				m.Types[f[2]] = f[3]
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", n, line, err)
		}
		m.Samples = append(m.Samples, s)
	}
	return m, sc.Err()
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, "=\"")
			if eq <= 0 {
				return s, fmt.Errorf("malformed labels")
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[name] = val.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := parseValue(f[0])
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

func matches(s Sample, name string, labels map[string]string) bool {
	if s.Name != name {
		return false
	}
	for k, v := range labels {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// Value is the value of the first sample named name whose labels include
// labels.
func (m *Metrics) Value(name string, labels map[string]string) (float64, bool) {
	for _, s := range m.Samples {
		if matches(s, name, labels) {
			return s.Value, true
		}
	}
	return 0, false
}

// Sum adds the samples named name whose labels include labels.
func (m *Metrics) Sum(name string, labels map[string]string) float64 {
	var sum float64
	for _, s := range m.Samples {
		if matches(s, name, labels) {
			sum += s.Value
		}
	}
	return sum
}

// HasFamily reports whether family is declared with "# TYPE" and has at
// least one sample (a histogram's through its _count).
func (m *Metrics) HasFamily(family string) bool {
	typ, ok := m.Types[family]
	if !ok {
		return false
	}
	name := family
	if typ == "histogram" || typ == "summary" {
		name = family + "_count"
	}
	for _, s := range m.Samples {
		if s.Name == name {
			return true
		}
	}
	return false
}
