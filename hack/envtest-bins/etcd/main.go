// Command etcd is etcd's own server entry point, built from a pinned module
// version so that envtest can run without downloading release archives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
