package probes

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PreStop describes what a container's preStop hook does.
type PreStop struct {
	// Present is false when the container has no preStop hook.
	Present bool
	// Handler is "exec", "sleep", "httpGet" or "tcpSocket".
	Handler string
	// Seconds is how long the hook is known to wait: the N of the sleep
	// handler, or the sum of the `sleep N` commands of an exec hook
	// (`sleep 5`, `/bin/sleep 5`, `sh -c "sleep 5 && nginx -s quit"`).
	// It is 0 when the duration cannot be read (an httpGet hook, a script
	// that does not sleep).
	Seconds int64
	// Known is true when Seconds was read from the hook (sleep handler, or an
	// exec hook with at least one sleep command).
	Known bool
}

// PreStopOf reads the preStop hook of container c.
func PreStopOf(c *corev1.Container) PreStop {
	if c == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return PreStop{}
	}
	h := c.Lifecycle.PreStop
	switch {
	case h.Sleep != nil:
		return PreStop{Present: true, Handler: "sleep", Seconds: h.Sleep.Seconds, Known: true}
	case h.Exec != nil:
		secs, known := SleepSeconds(h.Exec.Command)
		return PreStop{Present: true, Handler: "exec", Seconds: secs, Known: known}
	case h.HTTPGet != nil:
		return PreStop{Present: true, Handler: "httpGet"}
	case h.TCPSocket != nil:
		return PreStop{Present: true, Handler: "tcpSocket"}
	}
	return PreStop{Present: true}
}

// SleepSeconds reads how long an exec command sleeps: the command itself when
// it is `sleep N` (any path to sleep), or every `sleep N` in the script of a
// shell called with -c. Durations are whole seconds, with an optional "s"
// suffix ("5", "5s"); fractions are rounded up. known is false when the
// command does not sleep.
func SleepSeconds(command []string) (secs int64, known bool) {
	if len(command) == 0 {
		return 0, false
	}
	if isSleep(command[0]) {
		if len(command) >= 2 {
			if n, ok := parseSleep(command[1]); ok {
				return n, true
			}
		}
		return 0, false
	}
	if isShell(command[0]) {
		for i := 1; i+1 < len(command); i++ {
			if strings.HasPrefix(command[i], "-") && strings.Contains(command[i], "c") {
				return scriptSleep(command[i+1])
			}
		}
	}
	return 0, false
}

func base(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func isSleep(cmd string) bool { return base(cmd) == "sleep" }

func isShell(cmd string) bool {
	switch base(cmd) {
	case "sh", "bash", "ash", "dash", "zsh", "busybox":
		return true
	}
	return false
}

// scriptSleep adds up the `sleep N` commands of a shell script.
func scriptSleep(script string) (int64, bool) {
	words := strings.FieldsFunc(script, func(r rune) bool {
		switch r {
		case ' ', '\t', '\n', ';', '&', '|', '(', ')', '"', '\'':
			return true
		}
		return false
	})
	var total int64
	known := false
	for i := 0; i+1 < len(words); i++ {
		if isSleep(words[i]) {
			if n, ok := parseSleep(words[i+1]); ok {
				total += n
				known = true
				i++
			}
		}
	}
	return total, known
}

func parseSleep(arg string) (int64, bool) {
	arg = strings.TrimSuffix(arg, "s")
	if arg == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(arg, 10, 64); err == nil && n >= 0 {
		return n, true
	}
	f, err := strconv.ParseFloat(arg, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, false
	}
	n := int64(f)
	if float64(n) < f {
		n++
	}
	return n, true
}
