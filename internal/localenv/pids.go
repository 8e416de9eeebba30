package localenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bss-budget-operator/bss-budget-operator/internal/testenv"
)

// PIDRecord identifies a process across pid reuse: its pid and its start
// time in clock ticks since boot (field 22 of /proc/<pid>/stat).
type PIDRecord struct {
	// PID is the process id.
	PID int
	// StartTime is the start time from /proc/<pid>/stat.
	StartTime string
	// Name says what the process was.
	Name string
}

// StartTimeOf reads a live process's start time from /proc/<pid>/stat. A
// zombie counts as gone.
func StartTimeOf(pid int) (string, error) {
	f, err := StatFields(pid)
	if err != nil {
		return "", err
	}
	const stateField, startTimeField = 0, 22 - 3 // fields after ')' start at field 3
	if len(f) <= startTimeField {
		return "", fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	if f[stateField] == "Z" || f[stateField] == "X" {
		return "", fmt.Errorf("process %d has exited: %w", pid, os.ErrNotExist)
	}
	return f[startTimeField], nil
}

// StatFields returns the fields of /proc/<pid>/stat after the command
// name, so that field n (numbered from 1 as in proc(5)) is at index n-3.
func StatFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return strings.Fields(s[i+1:]), nil
}

// Record describes a running process for a pid file.
func Record(pid int, name string) (PIDRecord, error) {
	st, err := StartTimeOf(pid)
	if err != nil {
		return PIDRecord{}, err
	}
	return PIDRecord{PID: pid, StartTime: st, Name: name}, nil
}

// ChildPIDs lists the processes whose parent is this process.
func ChildPIDs() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(self) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// WritePIDFile replaces path with one line per record.
func WritePIDFile(path string, recs []PIDRecord) error {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%d %s %s\n", r.PID, r.StartTime, r.Name)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReapPIDFile kills (SIGKILL, with their process groups) the processes a
// pid file lists that still run with the same start time, that is, that
// a previous run left behind, and waits until they are gone. It returns
// what it killed.
func ReapPIDFile(path string) ([]PIDRecord, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the demo's own pid file
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var killed []PIDRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		if st, err := StartTimeOf(pid); err != nil || st != fields[1] {
			continue // gone, or the pid now belongs to someone else
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL) // its group: the processes were group leaders
		_ = syscall.Kill(pid, syscall.SIGKILL)
		rec := PIDRecord{PID: pid, StartTime: fields[1]}
		if len(fields) > 2 {
			rec.Name = fields[2]
		}
		killed = append(killed, rec)
	}
	if err := sc.Err(); err != nil {
		return killed, err
	}
	for _, r := range killed {
		gone := func(context.Context) (bool, error) {
			st, err := StartTimeOf(r.PID)
			return err != nil || st != r.StartTime, nil
		}
		if err := testenv.Wait(context.Background(), 10*time.Second, 50*time.Millisecond, gone, nil); err != nil {
			return killed, fmt.Errorf("%s (pid %d) from a previous run did not exit: %w", r.Name, r.PID, err)
		}
	}
	return killed, nil
}
