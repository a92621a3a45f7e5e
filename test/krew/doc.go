// Package krew tests the release archives and the krew manifest that
// hack/release.sh produces, with krew's own code: the manifest validator
// and the krew binary of sigs.k8s.io/krew v0.4.3 installing the plugin
// offline. It is a module of its own so that krew and its old
// dependencies never enter the plugin's go.mod.
package krew
