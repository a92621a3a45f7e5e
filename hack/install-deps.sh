#!/usr/bin/env bash
# Installs what the tests need and a new machine may lack. Idempotent.
#   prometheus                      the analysis tests' metric server
#   containerd runc iptables        the test cluster's real node (hack/node.sh):
#   conntrack socat                 its container runtime, kube-proxy's rules,
#   containernetworking-plugins     the apiserver relay and the pods' bridge
#   tmux                            the terminal tests (test/cli: output fits a pane)
#   chromium                        the browser check of the HTML report (pkg/report,
#                                   test/e2e; make docs): about 20 s and 350 MB
#                                   (25 packages) on a fresh Debian 12, measured
# Installing needs root; without root, what is missing is named and the
# tests that need it say so (the real-node tests fail on CI, skip elsewhere).
set -euo pipefail
need_apt=()
# kubectl: the machine image ships it; hack/build-tools.sh also builds bin/kubectl as a fallback
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v containerd >/dev/null || need_apt+=(containerd)
command -v runc >/dev/null || need_apt+=(runc)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v conntrack >/dev/null || need_apt+=(conntrack)
command -v socat >/dev/null || need_apt+=(socat)
command -v ip >/dev/null || need_apt+=(iproute2)
[ -x /usr/lib/cni/bridge ] || need_apt+=(containernetworking-plugins)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: not root, cannot install: ${need_apt[*]}" >&2
		exit 0
	fi
	echo "installing: ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
