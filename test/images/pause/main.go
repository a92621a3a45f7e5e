// Command pause is the sandbox ("pause") image of the test cluster's real
// node: it holds a pod's namespaces and does nothing until it is told to
// stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}
