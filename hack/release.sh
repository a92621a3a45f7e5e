#!/usr/bin/env bash
# hack/release.sh VERSION: cross-builds kubectl-zdd for linux and darwin
# (amd64, arm64) and windows (amd64), packs each with kubectl_complete-zdd
# and LICENSE into dist/ (.tar.gz; .zip for windows), writes the sha256 sums
# and renders plugins/krew.yaml from plugins/krew.yaml.tmpl.
#
# VERSION must be a semantic version with a leading v (v1.2.3, v1.2.3-rc.1),
# as krew requires; anything else (a bare commit from `git describe
# --always`) is turned into v0.0.0-dev.g<that> so a local `make release`
# still gives a manifest krew accepts.
#
# Environment:
#   DIST_DIR          where the archives go (default dist)
#   KREW_MANIFEST     the rendered manifest (default plugins/krew.yaml)
#   RELEASE_BASE_URL  where the archives will be downloaded from
#                     (default https://github.com/zdd-dev/kubectl-zdd/releases/download/VERSION)
# The archives are built to be reproducible (not yet proven by a test): fixed file times (the commit's date),
# owners and order, so the same commit gives the same sha256 sums.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() { echo "usage: hack/release.sh VERSION   (e.g. v0.1.0)" >&2; exit 2; }
[ $# -eq 1 ] && [ -n "$1" ] || usage
version=$1
semver='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'
if ! [[ $version =~ $semver ]]; then
	clean=$(printf '%s' "$version" | tr -c '0-9A-Za-z-' '-')
	version="v0.0.0-dev.g${clean}"
	[[ $version =~ $semver ]] || { echo "release: cannot make a semantic version of '$1'" >&2; exit 2; }
	echo "release: '$1' is not a semantic version; using $version"
fi

dist=${DIST_DIR:-dist}
manifest=${KREW_MANIFEST:-plugins/krew.yaml}
homepage=https://github.com/zdd-dev/kubectl-zdd
base_url=${RELEASE_BASE_URL:-$homepage/releases/download/$version}
platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)

pkg=github.com/zdd-dev/kubectl-zdd
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
build_date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
# The build tags of the release binary, as `make build` sets them.
tags=$(sed -n 's/^GOTAGS := //p' Makefile)
ldflags="-s -w -X $pkg/pkg/version.Version=$version -X $pkg/pkg/version.Commit=$commit -X $pkg/pkg/version.BuildDate=$build_date"

mkdir -p "$dist"
dist=$(cd "$dist" && pwd) # absolute: the zip step runs in another directory
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
sums=()
declare -A uri sha

for p in "${platforms[@]}"; do
	os=${p%/*} arch=${p#*/}
	name="kubectl-zdd_${version}_${os}_${arch}"
	dir="$stage/$name"
	mkdir -p "$dir"
	bin=kubectl-zdd complete=kubectl_complete-zdd
	if [ "$os" = windows ]; then bin=kubectl-zdd.exe complete=kubectl_complete-zdd.cmd; fi
	echo "== $os/$arch"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$dir/$bin" ./cmd/kubectl-zdd
	install -m 0755 "plugins/$complete" "$dir/$complete"
	install -m 0644 LICENSE "$dir/LICENSE"
	touch -h -d "@$epoch" "$dir"/*
	if [ "$os" = windows ]; then
		archive="$name.zip"
		rm -f "$dist/$archive"
		(cd "$dir" && TZ=UTC zip -q -X "$dist/$archive" "$bin" "$complete" LICENSE)
	else
		archive="$name.tar.gz"
		tar -C "$dir" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
			-cf - "$bin" "$complete" LICENSE | gzip -n -9 > "$dist/$archive"
	fi
	sum=$(sha256sum "$dist/$archive" | cut -d' ' -f1)
	echo "$sum  $archive" > "$dist/$archive.sha256"
	sums+=("$sum  $archive")
	uri[${os}_${arch}]="$base_url/$archive"
	sha[${os}_${arch}]=$sum
done
printf '%s\n' "${sums[@]}" > "$dist/SHA256SUMS"

# render the krew manifest: drop the template's own comment header, fill in
# the placeholders, and refuse to write one with a placeholder left
args=(-e '/^# /d' -e "s|{{VERSION}}|$version|g" -e "s|{{HOMEPAGE}}|$homepage|g")
for k in "${!uri[@]}"; do
	args+=(-e "s|{{URI_$k}}|${uri[$k]}|g" -e "s|{{SHA256_$k}}|${sha[$k]}|g")
done
rendered=$(sed "${args[@]}" plugins/krew.yaml.tmpl)
if grep -q '{{' <<<"$rendered"; then
	echo "release: placeholders left in the manifest:" >&2
	grep -n '{{' <<<"$rendered" >&2
	exit 1
fi
mkdir -p "$(dirname "$manifest")"
{
	echo "# Rendered by hack/release.sh from plugins/krew.yaml.tmpl; do not edit."
	printf '%s\n' "$rendered"
} > "$manifest"
echo "release: $version archives and SHA256SUMS in $dist/, manifest $manifest"
cat "$dist/SHA256SUMS"
