package memlimit

import (
	"errors"
	"io/fs"
	"testing"
)

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if v, ok := m[name]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestCgroupLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		files   map[string]string
		want    int64
		ok, err bool
	}{
		"v2 limit":         {files: map[string]string{"/sys/fs/cgroup/memory.max": "268435456\n"}, want: 268435456, ok: true},
		"v2 unlimited":     {files: map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}},
		"v1 limit":         {files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "134217728\n"}, want: 134217728, ok: true},
		"v1 unlimited":     {files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}},
		"no cgroup":        {files: map[string]string{}},
		"garbage":          {files: map[string]string{"/sys/fs/cgroup/memory.max": "lots"}, err: true},
		"v2 wins over v1":  {files: map[string]string{"/sys/fs/cgroup/memory.max": "1000", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "2000"}, want: 1000, ok: true},
		"zero is no limit": {files: map[string]string{"/sys/fs/cgroup/memory.max": "0"}},
		"negative is none": {files: map[string]string{"/sys/fs/cgroup/memory.max": "-1"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok, err := CgroupLimit(files(tc.files))
			if (err != nil) != tc.err || ok != tc.ok || got != tc.want {
				t.Errorf("got %d, %v, %v; want %d, %v, error %v", got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
}

func TestCgroupLimitReadError(t *testing.T) {
	boom := errors.New("permission denied")
	_, _, err := CgroupLimit(func(string) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the read error", err)
	}
}

func TestSetRespectsGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got, err := Set(); got != 0 || err != nil {
		t.Errorf("Set() = %d, %v with $GOMEMLIMIT set; want 0, nil", got, err)
	}
}
