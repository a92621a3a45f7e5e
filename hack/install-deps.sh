#!/usr/bin/env bash
# Installs what the tests need and a new machine may lack. Idempotent.
set -euo pipefail
need_apt=()
# kubectl: the machine image ships it; hack/build-tools.sh also builds bin/kubectl as a fallback
command -v prometheus >/dev/null || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "installing: ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
