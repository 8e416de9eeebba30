// Package memlimit gives the Go runtime a soft memory limit below the
// container's memory limit, so that the collector works harder as the
// manager nears its limit instead of the kernel killing it.
package memlimit

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the cgroup's memory limit used as the soft limit: the rest is
// left for memory the collector does not manage (stacks, runtime metadata).
const Fraction = 0.9

// cgroup files holding the memory limit, version 2 first.
var limitFiles = []string{
	"/sys/fs/cgroup/memory.max",                   // cgroup v2
	"/sys/fs/cgroup/memory/memory.limit_in_bytes", // cgroup v1
}

// unlimitedV1 is the smallest value cgroup v1 reports for "no limit" (the
// largest page-aligned int64).
const unlimitedV1 = math.MaxInt64 &^ (1<<12 - 1)

// CgroupLimit returns the memory limit of the cgroup the process runs in,
// read with readFile, and false when there is none (no cgroup files, or
// "max").
func CgroupLimit(readFile func(string) ([]byte, error)) (int64, bool, error) {
	for _, f := range limitFiles {
		b, err := readFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false, errors.New(f + ": " + err.Error())
		}
		if n <= 0 || n >= unlimitedV1 {
			return 0, false, nil
		}
		return n, true, nil
	}
	return 0, false, nil
}

// Set applies Fraction of the cgroup's memory limit as the runtime's soft
// memory limit, unless $GOMEMLIMIT already sets one. It returns the limit
// it set (0 when it set none).
func Set() (int64, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	limit, ok, err := CgroupLimit(os.ReadFile)
	if err != nil || !ok {
		return 0, err
	}
	soft := int64(float64(limit) * Fraction)
	debug.SetMemoryLimit(soft)
	return soft, nil
}
