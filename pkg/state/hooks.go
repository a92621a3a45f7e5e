package state

// KillAtPhaseEnv names a test-only environment variable, honoured only by
// a binary built with the build tag zddtesthooks (the e2e suite builds it
// so; `make build` and release builds do not): when it equals the phase
// just recorded (or "strategy:phase"), the process kills itself with
// SIGKILL right after the record is saved, as a client that dies at that
// phase boundary would. The crash-safety e2e tests use it.
const KillAtPhaseEnv = "ZDD_TEST_KILL_AT_PHASE"

// HostnameEnv names a test-only environment variable, honoured only by a
// binary built with the build tag zddtesthooks: the host name this process
// gives as its own (in its holder identity and when it judges whether a
// lease's holder ran on this machine), so that an e2e test can make a run
// look as if it ran on another machine.
const HostnameEnv = "ZDD_TEST_HOSTNAME"
