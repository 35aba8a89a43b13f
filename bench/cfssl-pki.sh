#!/usr/bin/env bash
# The kubeadm PKI that `kpki init` writes, made with cfssl + cfssljson: the second peer that
# bench/init-bench.mjs times kpki against.
#
#   bench/cfssl-pki.sh OUTDIR [rsa-2048|ecdsa-p256]
#
# Same files, names and modes as bench/openssl-pki.sh (kubeadm layout: OUTDIR/pki/*.crt|key,
# OUTDIR/pki/etcd/*, OUTDIR/pki/sa.{key,pub}, OUTDIR/*.conf, OUTDIR/kubeadm-cluster-admins.yaml)
# for --node-name cp1 --advertise-address 10.0.0.11 --control-plane-endpoint lb.example.com:6443
# (override with NODE_NAME, ADVERTISE_ADDRESS, CPE_HOST, CPE_PORT, BIND_PORT).
#
# The usual cfssl workflow: `cfssl gencert -initca` per CA, then `cfssl gencert -ca … -config
# bench/cfssl/ca-config.json -profile server|client|peer` per leaf, CSR JSON on stdin, output split
# by cfssljson. The three CAs (and the sa key) run in parallel, then all twelve leaf and
# kubeconfig certificates in parallel. One extra step the defaults need: `-initca` always gives a
# CA the KeyUsage certSign+cRLSign, so each CA certificate is re-issued from its own CSR with the
# "ca" profile (`cfssl sign`) to get kubeadm's digitalSignature+keyEncipherment+certSign.
# cfssl has no way to write a bare public key, so sa.pub comes from `openssl pkey -pubout`.
#
# Known differences from kpki that cfssl cannot express: CA certificates get no SAN (cfssl drops
# SANs on CA certificates; kubeadm/kpki put DNS:<CN>), leaves carry a SubjectKeyIdentifier
# (kpki/kubeadm: none), serials are 159-bit random, NotBefore is rounded to the minute and
# backdated 5 minutes (kpki: backdated 5 minutes, to the second).
set -euo pipefail

OUT=${1:?usage: cfssl-pki.sh OUTDIR [rsa-2048|ecdsa-p256]}
KEY_TYPE=${2:-rsa-2048}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CONFIG=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cfssl/ca-config.json

case $KEY_TYPE in
  rsa-2048) KEY='{"algo":"rsa","size":2048}' ;;
  ecdsa-p256) KEY='{"algo":"ecdsa","size":256}' ;;
  *) echo "cfssl-pki.sh: unknown key type $KEY_TYPE (rsa-2048, ecdsa-p256)" >&2; exit 2 ;;
esac

umask 022
P=$OUT/pki
T=$OUT/.cfssl-pki.tmp # kubeconfig client keys/certs until embedded, CA CSRs
mkdir -p "$P/etcd" "$T"

# cfssljson -bare X writes X.pem, X-key.pem (0600), X.csr; move them to kubeadm's names.
place() { # BARE CRT KEY
  mv "$1.pem" "$2"
  if [ -n "${3:-}" ]; then mv "$1-key.pem" "$3"; fi
  rm -f "$1.csr"
}

ca() { # NAME CN
  local bare=$T/${1//\//-}
  cfssl gencert -loglevel 4 -initca - <<EOF | cfssljson -bare "$bare"
{"CN":"$2","hosts":["$2"],"key":$KEY,"ca":{"expiry":"87600h"}}
EOF
  # Re-issue from its own CSR with the "ca" profile for kubeadm's KeyUsage (see above).
  cfssl sign -loglevel 4 -ca "$bare.pem" -ca-key "$bare-key.pem" -config "$CONFIG" -profile ca \
    "$bare.csr" | cfssljson -bare "$bare"
  place "$bare" "$P/$1.crt" "$P/$1.key"
}

# NAME CA PROFILE CN O HOSTS(json array) -> BARE (in $T) 
gen() {
  local names=''
  if [ -n "$5" ]; then names=",\"names\":[{\"O\":\"$5\"}]"; fi
  cfssl gencert -loglevel 4 -ca "$P/$2.crt" -ca-key "$P/$2.key" -config "$CONFIG" -profile "$3" - \
    <<EOF | cfssljson -bare "$T/${1//\//-}"
{"CN":"$4","hosts":$6,"key":$KEY$names}
EOF
}
leaf() { # NAME CA PROFILE CN O HOSTS
  gen "$@"
  place "$T/${1//\//-}" "$P/$1.crt" "$P/$1.key"
}
kubeconfig() { # NAME CN O SERVER
  gen "$1" ca client "$2" "$3" '[]'
  write_kubeconfig "$1" "$2" "$4" "$T/$1.pem" "$T/$1-key.pem"
}
sa() {
  cfssl genkey -loglevel 4 - <<EOF | cfssljson -bare "$T/sa"
{"CN":"sa","key":$KEY}
EOF
  mv "$T/sa-key.pem" "$P/sa.key"
  (umask 077 && openssl pkey -in "$P/sa.key" -pubout -out "$P/sa.pub")
}

# 1. CAs and the service-account key pair.
bg ca ca kubernetes
bg ca front-proxy-ca front-proxy-ca
bg ca etcd/ca etcd-ca
bg sa
join

# 2. Leaves and kubeconfig client certificates.
ETCD_HOSTS="[\"$NODE\",\"localhost\",\"$ADV\",\"127.0.0.1\",\"::1\"]"
bg leaf apiserver ca server kube-apiserver '' \
  "[\"$NODE\",\"kubernetes\",\"kubernetes.default\",\"kubernetes.default.svc\",\"kubernetes.default.svc.cluster.local\",\"$CPE_HOST\",\"10.96.0.1\",\"$ADV\"]"
bg leaf apiserver-kubelet-client ca client kube-apiserver-kubelet-client kubeadm:cluster-admins '[]'
bg leaf front-proxy-client front-proxy-ca client front-proxy-client '' '[]'
bg leaf etcd/server etcd/ca peer "$NODE" '' "$ETCD_HOSTS"
bg leaf etcd/peer etcd/ca peer "$NODE" '' "$ETCD_HOSTS"
bg leaf etcd/healthcheck-client etcd/ca client kube-etcd-healthcheck-client '' '[]'
bg leaf apiserver-etcd-client etcd/ca client kube-apiserver-etcd-client '' '[]'
bg kubeconfig admin kubernetes-admin kubeadm:cluster-admins "$CPE"
bg kubeconfig super-admin kubernetes-super-admin system:masters "$CPE"
bg kubeconfig controller-manager system:kube-controller-manager '' "$LOCAL"
bg kubeconfig scheduler system:kube-scheduler '' "$LOCAL"
bg kubeconfig kubelet "system:node:$NODE" system:nodes "$CPE"
write_cluster_admins
join

finish "$T"
