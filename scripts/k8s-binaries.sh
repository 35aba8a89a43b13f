#!/usr/bin/env bash
# Builds the real control plane and worker the cluster tests and the benchmark run against:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, sample-apiserver and kubeadm
# v1.20.2, from Debian's `kubernetes` source
# package with Debian's Go 1.19 (GOPATH mode, vendored dependencies). The binaries are cached
# outside the repository; with all of them present this is a no-op.
#
#   scripts/k8s-binaries.sh            build what is missing, print the binaries' directory
#   KPKI_K8S_BIN=/dir                  where the binaries live (default /var/cache/kpki/k8s-v1.20.2/bin)
#
# Needs root for apt-get (deb-src entries are enabled on the fly). Takes about 10 minutes cold on
# 2 cores; a warm Go cache relinks in seconds.
set -euo pipefail

VERSION=v1.20.2
CACHE=${KPKI_K8S_CACHE:-/var/cache/kpki/k8s-$VERSION}
BIN=${KPKI_K8S_BIN:-$CACHE/bin}
TARGETS=(kube-apiserver kube-controller-manager sample-apiserver kubeadm kubelet kube-scheduler)

have_all() {
  local t
  for t in "${TARGETS[@]}"; do [ -x "$BIN/$t" ] || return 1; done
}
if have_all; then echo "$BIN"; exit 0; fi

log() { echo "k8s-binaries: $*" >&2; }

# 1. Packages, with deb-src entries so `apt-get source` works.
enable_deb_src() {
  local f=/etc/apt/sources.list.d/debian.sources
  if [ -f "$f" ] && ! grep -q '^Types:.*deb-src' "$f"; then
    sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
  elif [ -f /etc/apt/sources.list ] && ! grep -q '^deb-src' /etc/apt/sources.list; then
    sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >> /etc/apt/sources.list
  fi
}
enable_deb_src
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends golang-1.19-go dpkg-dev xz-utils ca-certificates \
  golang-github-modern-go-reflect2-dev >&2

# 2. Source tree in a GOPATH layout (a fixed path keeps the Go build cache valid across runs).
WORK=$CACHE/work
SRC=$WORK/gopath/src/k8s.io/kubernetes
if [ ! -d "$SRC/cmd/kube-apiserver" ]; then
  rm -rf "$WORK"
  mkdir -p "$WORK/apt-src" "$WORK/gopath/src/k8s.io"
  log "fetching Debian's kubernetes source package"
  (cd "$WORK/apt-src" && apt-get source -qq kubernetes >&2)
  mv "$WORK"/apt-src/kubernetes-*/ "$SRC"
  rm -rf "$WORK/apt-src"
fi

export GOPATH=$WORK/gopath GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0
export GOCACHE=$CACHE/go-build PATH=/usr/lib/go-1.19/bin:$PATH
unset GOROOT GOBIN
cd "$SRC"

# 3. reflect2 1.0.1 (vendored) faults on Go >= 1.18 when json-iterator marshals a map; Debian's 1.0.2 fixes it.
R2=vendor/github.com/modern-go/reflect2
D=/usr/share/gocode/src/github.com/modern-go/reflect2
if [ ! -e "$R2/go_above_118.go" ]; then
  find "$R2" -mindepth 1 ! -name LICENSE -delete
  cp "$D"/*.go "$D"/*.s "$R2"/
fi

# 4. pkg/generated/openapi is not in the tarball; generate it as `make gen_openapi` does.
OUT=$WORK/_output
if [ ! -s pkg/generated/openapi/zz_generated.openapi.go ]; then
  log "generating pkg/generated/openapi"
  mkdir -p "$OUT/bin" "$OUT/report"
  go build -o "$OUT/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  dirs=$(find -H . -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) -type f -name '*.go' -print \
    | sed -e 's|^\./staging/src|vendor|' -e 's|^\./||' \
    | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
    | LC_ALL=C sort | xargs grep --color=never -l '^// *+k8s:' | xargs grep --color=never -l '+k8s:openapi-gen=' \
    | xargs -n1 dirname | LC_ALL=C sort -u)
  inputs=$(printf 'k8s.io/kubernetes/%s\n' $dirs | paste -sd, -)
  "$OUT/bin/openapi-gen" --logtostderr -i "$inputs" \
    -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "$OUT/report/KUBE_violations.report" 2>/dev/null
fi

# 5. Static builds, version stamped as hack/lib/golang.sh does.
BUILD_DATE=$(date -u --date="@$(dpkg-parsechangelog -l debian/changelog -STimestamp)" +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for kv in gitVersion=$VERSION gitMajor=1 gitMinor=20 gitTreeState=archive buildDate=$BUILD_DATE; do
  for pkg in client-go/pkg/version component-base/version; do
    ldflags+=" -X k8s.io/kubernetes/vendor/k8s.io/$pkg.${kv%%=*}=${kv#*=}"
  done
done
mkdir -p "$BIN"
for t in "${TARGETS[@]}"; do
  [ -x "$BIN/$t" ] && continue
  case $t in sample-apiserver) p=./vendor/k8s.io/sample-apiserver ;; *) p=./cmd/$t ;; esac
  log "building $t"
  nice -n 10 go build -p 2 -tags selinux,notest -ldflags "$ldflags" -o "$OUT/bin/$t" "$p"
  install -m 0755 "$OUT/bin/$t" "$BIN/$t.tmp" && mv -f "$BIN/$t.tmp" "$BIN/$t"
done
"$BIN/kube-apiserver" --version >&2
echo "$BIN"
