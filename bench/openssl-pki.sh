#!/usr/bin/env bash
# The kubeadm PKI that `kpki init` writes, made with the openssl CLI: the peer that
# bench/init-bench.mjs times kpki against.
#
#   bench/openssl-pki.sh OUTDIR [rsa-2048|ecdsa-p256]
#
# Writes OUTDIR/pki/{ca,apiserver,apiserver-kubelet-client,front-proxy-ca,front-proxy-client,
# apiserver-etcd-client}.{crt,key}, OUTDIR/pki/etcd/{ca,server,peer,healthcheck-client}.{crt,key},
# OUTDIR/pki/sa.{key,pub}, the five kubeconfigs OUTDIR/{admin,super-admin,controller-manager,
# scheduler,kubelet}.conf (client cert and key embedded) and OUTDIR/kubeadm-cluster-admins.yaml,
# with the subjects, SANs, key usages and EKUs of `kpki init` (profile kubeadm) for
#   --node-name cp1 --advertise-address 10.0.0.11 --control-plane-endpoint lb.example.com:6443
# (override with NODE_NAME, ADVERTISE_ADDRESS, CPE_HOST, CPE_PORT, BIND_PORT; service CIDR
# 10.96.0.0/12 and DNS domain cluster.local are fixed).
#
# Written the way a competent shell author would: all 16 keys generated in parallel, then the
# three CAs, then the twelve leaf/kubeconfig certificates in parallel, one openssl process per
# key and per certificate (`openssl req -x509 -CA` signs without a CSR round trip). Keys in the
# formats kubeadm uses (PKCS#1 / SEC1, mode 0600), certificates 0644, kubeconfigs and sa.pub
# 0600, everything fsync'ed at the end (kpki fsyncs every file it writes).
#
# Known differences from kpki that openssl 3.0's req/x509 cannot express: NotBefore is "now"
# (kpki backdates 5 minutes) and serials are 159-bit random (kpki: 63-bit).
set -euo pipefail

OUT=${1:?usage: openssl-pki.sh OUTDIR [rsa-2048|ecdsa-p256]}
KEY_TYPE=${2:-rsa-2048}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case $KEY_TYPE in
  rsa-2048) genkey() { openssl genrsa -traditional -out "$1" 2048; } ;;
  ecdsa-p256) genkey() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; } ;;
  *) echo "openssl-pki.sh: unknown key type $KEY_TYPE (rsa-2048, ecdsa-p256)" >&2; exit 2 ;;
esac

umask 022
P=$OUT/pki
T=$OUT/.openssl-pki.tmp # kubeconfig client keys/certs (embedded, then removed) and the config
mkdir -p "$P/etcd" "$T"

cat > "$T/openssl.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[ca_kubernetes]
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
basicConstraints = critical, CA:TRUE
subjectKeyIdentifier = hash
subjectAltName = DNS:kubernetes
[ca_front_proxy]
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
basicConstraints = critical, CA:TRUE
subjectKeyIdentifier = hash
subjectAltName = DNS:front-proxy-ca
[ca_etcd]
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
basicConstraints = critical, CA:TRUE
subjectKeyIdentifier = hash
subjectAltName = DNS:etcd-ca
[client]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
basicConstraints = critical, CA:FALSE
subjectKeyIdentifier = none
authorityKeyIdentifier = keyid
[apiserver]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
basicConstraints = critical, CA:FALSE
subjectKeyIdentifier = none
authorityKeyIdentifier = keyid
subjectAltName = DNS:$NODE, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:$CPE_HOST, IP:10.96.0.1, IP:$ADV
[etcd]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
basicConstraints = critical, CA:FALSE
subjectKeyIdentifier = none
authorityKeyIdentifier = keyid
subjectAltName = DNS:$NODE, DNS:localhost, IP:$ADV, IP:127.0.0.1, IP:::1
EOF

# 1. All 16 key pairs at once: 3 CAs, 7 leaves, sa, 5 kubeconfig clients.
for k in ca front-proxy-ca etcd/ca apiserver apiserver-kubelet-client front-proxy-client \
         etcd/server etcd/peer etcd/healthcheck-client apiserver-etcd-client sa; do
  bg genkey "$P/$k.key"
done
for k in admin super-admin controller-manager scheduler kubelet; do bg genkey "$T/$k.key"; done
join

# 2. The three self-signed CAs, and sa.pub.
ca() { # NAME CN SECTION
  openssl req -x509 -new -config "$T/openssl.cnf" -extensions "$3" -key "$P/$1.key" \
    -subj "/CN=$2" -days 3650 -sha256 -out "$P/$1.crt"
}
bg ca ca kubernetes ca_kubernetes
bg ca front-proxy-ca front-proxy-ca ca_front_proxy
bg ca etcd/ca etcd-ca ca_etcd
bg sh -c 'umask 077 && openssl pkey -in "$1" -pubout -out "$2"' sh "$P/sa.key" "$P/sa.pub"
join

# 3. Leaves and kubeconfig client certificates.
sign() { # KEYFILE CA SUBJECT SECTION OUTFILE
  openssl req -x509 -new -config "$T/openssl.cnf" -extensions "$4" -key "$1" \
    -CA "$P/$2.crt" -CAkey "$P/$2.key" -subj "$3" -days 365 -sha256 -out "$5"
}
leaf() { sign "$P/$1.key" "$2" "$3" "$4" "$P/$1.crt"; } # NAME CA SUBJECT SECTION
kubeconfig() { # NAME SUBJECT USER SERVER
  sign "$T/$1.key" ca "$2" client "$T/$1.crt"
  write_kubeconfig "$1" "$3" "$4" "$T/$1.crt" "$T/$1.key"
}
bg leaf apiserver ca /CN=kube-apiserver apiserver
bg leaf apiserver-kubelet-client ca /O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client client
bg leaf front-proxy-client front-proxy-ca /CN=front-proxy-client client
bg leaf etcd/server etcd/ca "/CN=$NODE" etcd
bg leaf etcd/peer etcd/ca "/CN=$NODE" etcd
bg leaf etcd/healthcheck-client etcd/ca /CN=kube-etcd-healthcheck-client client
bg leaf apiserver-etcd-client etcd/ca /CN=kube-apiserver-etcd-client client
bg kubeconfig admin /O=kubeadm:cluster-admins/CN=kubernetes-admin kubernetes-admin "$CPE"
bg kubeconfig super-admin /O=system:masters/CN=kubernetes-super-admin kubernetes-super-admin "$CPE"
bg kubeconfig controller-manager /CN=system:kube-controller-manager system:kube-controller-manager "$LOCAL"
bg kubeconfig scheduler /CN=system:kube-scheduler system:kube-scheduler "$LOCAL"
bg kubeconfig kubelet "/O=system:nodes/CN=system:node:$NODE" "system:node:$NODE" "$CPE"
write_cluster_admins
join

finish "$T"
