// Package version holds the build information stamped in with -ldflags:
//
//	-X github.com/zdd-dev/kubectl-zdd/pkg/version.Version=v0.1.0
//	-X github.com/zdd-dev/kubectl-zdd/pkg/version.Commit=abc1234
//	-X github.com/zdd-dev/kubectl-zdd/pkg/version.BuildDate=2026-11-27T00:00:00Z
package version

import "runtime"

var (
	Version   = "v0.0.0-dev"
	Commit    = "unknown"
	BuildDate = "unknown"
)

// Info is the build information as printed by `kubectl zdd version`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build information of this binary.
func Get() Info {
	return Info{
		Version:   Version,
		Commit:    Commit,
		BuildDate: BuildDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}
