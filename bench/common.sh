# Shared by bench/openssl-pki.sh and bench/cfssl-pki.sh (sourced after `set -euo pipefail`): the
# settings, background jobs, and the files both write the same way (kubeconfigs, the RBAC
# manifest, the final fsync). Each script defines how keys and certificates are made.

NODE=${NODE_NAME:-cp1}
ADV=${ADVERTISE_ADDRESS:-10.0.0.11}
CPE_HOST=${CPE_HOST:-lb.example.com}
CPE_PORT=${CPE_PORT:-6443}
BIND_PORT=${BIND_PORT:-6443}
CPE=https://$CPE_HOST:$CPE_PORT
LOCAL=https://$ADV:$BIND_PORT

# Background jobs; `join` waits for all and fails if any failed (a bare `wait` would not).
PIDS=()
bg() { "$@" & PIDS+=($!); }
join() {
  local pid status=0
  for pid in "${PIDS[@]}"; do wait "$pid" || status=1; done
  PIDS=()
  return $status
}

# OUTDIR/NAME.conf (0600) as kubeadm writes it, CA from OUTDIR/pki/ca.crt, client cert and key embedded.
write_kubeconfig() { # NAME USER SERVER CERTFILE KEYFILE
  local ctx=$2@kubernetes
  umask 077
  cat > "$OUT/$1.conf" <<YAML
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $(base64 -w0 "$OUT/pki/ca.crt")
    server: $3
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: $2
  name: $ctx
current-context: $ctx
kind: Config
preferences: {}
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$4")
    client-key-data: $(base64 -w0 "$5")
YAML
}

write_cluster_admins() {
  cat > "$OUT/kubeadm-cluster-admins.yaml" <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubeadm:cluster-admins
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: kubeadm:cluster-admins
YAML
}

# Removes the scratch dir and fsyncs every file written, as kpki does (coreutils sync
# with arguments fsyncs them).
finish() { # SCRATCHDIR
  rm -rf "$1"
  sync "$OUT"/pki/*.* "$OUT"/pki/etcd/* "$OUT"/*.conf "$OUT/kubeadm-cluster-admins.yaml" "$OUT/pki/etcd" "$OUT/pki" "$OUT"
}
