package localenv

import "syscall"

// sysProcAttr puts a child in its own process group (so that it and its
// children can be signalled together and a Ctrl-C in the terminal reaches
// only the parent, which stops them in order) and kills it when the thread
// that started it dies, so that nothing outlives a killed test or demo.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
