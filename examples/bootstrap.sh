#!/usr/bin/env bash
# Bootstrap a control plane's PKI with the kpki CLI: build it, hand out two user kubeconfigs,
# and verify the result. Usage: examples/bootstrap.sh [WORKDIR]  (default: a temp dir)
set -euo pipefail
kpki() { node "$(dirname "$0")/../bin/kpki.js" "$@"; }

work=${1:-$(mktemp -d)}
mkdir -p "$work"
pki=$work/pki

kpki init --cert-dir "$pki" --kubeconfig-dir "$work" \
  --node-name cp1 --advertise-address 10.0.0.11 \
  --control-plane-endpoint k8s-api.example.com:6443 --key-type ecdsa-p256 --json > "$work/init.json"

kpki kubeconfig user --cert-dir "$pki" --client-name alice --org developers > "$work/alice.conf"
kpki kubeconfig user --cert-dir "$pki" --client-name bob --org developers --validity 24h --out "$work/bob.conf"

# Each script step checks its exit code; verify exits 1 on any error finding.
kpki verify --cert-dir "$pki" --kubeconfig "$work/alice.conf" --kubeconfig "$work/bob.conf" --json > "$work/verify.json"
kpki check-expiration --cert-dir "$pki" --warn-within 30d > /dev/null
echo "bootstrap: PKI and kubeconfigs in $work verified"
