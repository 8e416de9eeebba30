package sdkconformance

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the simulator when the test binary
// dies without running its cleanups (a panic or go test's timeout).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
