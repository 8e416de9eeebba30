//go:build !linux

package sdkconformance

import "os/exec"

// setProcAttr does nothing here: only Linux can tie the simulator's life to
// the test binary's; the cleanups stop it otherwise.
func setProcAttr(*exec.Cmd) {}
