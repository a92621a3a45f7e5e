package plugin

// SwitchPauseEnv names a test-only hook, honoured only by a binary built
// with the build tag zddtesthooks (the e2e suite builds it so; `make build`
// and release builds do not): when the variable holds a path, every
// blue-green selector switch, after its guard passed and right before the
// patch, creates PATH.waiting (holding the Service's name) and then waits
// until PATH exists (or the operation's context ends). The e2e suite edits
// the Service in that window to prove that a concurrent change fails the
// switch instead of being overwritten.
const SwitchPauseEnv = "ZDD_TEST_SWITCH_PAUSE_FILE"
