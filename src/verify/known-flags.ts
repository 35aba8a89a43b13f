import type { FlagComponent } from '../model/flags.js';

/**
 * Every flag the components accept, as their v1.20.2 binaries (etcd 3.4.23) register them, hidden
 * and deprecated ones included; read from the commands built from Kubernetes v1.20.2 sources (their
 * cobra flag sets) and from etcd --help. Flags added after v1.20 are missing, so an unknown flag is
 * an error only when it is a near miss of a known one.
 */
const words = (text: string): ReadonlySet<string> => new Set(text.split(' '));

export const KNOWN_FLAGS: Record<FlagComponent, ReadonlySet<string>> = {
  apiserver: words(
    'add-dir-header address admission-control admission-control-config-file advertise-address ' +
      'allow-privileged alsologtostderr anonymous-auth api-audiences apiserver-count ' +
      'audit-log-batch-buffer-size audit-log-batch-max-size audit-log-batch-max-wait ' +
      'audit-log-batch-throttle-burst audit-log-batch-throttle-enable audit-log-batch-throttle-qps ' +
      'audit-log-compress audit-log-format audit-log-maxage audit-log-maxbackup audit-log-maxsize ' +
      'audit-log-mode audit-log-path audit-log-truncate-enabled audit-log-truncate-max-batch-size ' +
      'audit-log-truncate-max-event-size audit-log-version audit-policy-file ' +
      'audit-webhook-batch-buffer-size audit-webhook-batch-initial-backoff ' +
      'audit-webhook-batch-max-size audit-webhook-batch-max-wait audit-webhook-batch-throttle-burst ' +
      'audit-webhook-batch-throttle-enable audit-webhook-batch-throttle-qps ' +
      'audit-webhook-config-file audit-webhook-initial-backoff audit-webhook-mode ' +
      'audit-webhook-truncate-enabled audit-webhook-truncate-max-batch-size ' +
      'audit-webhook-truncate-max-event-size audit-webhook-version ' +
      'authentication-token-webhook-cache-ttl authentication-token-webhook-config-file ' +
      'authentication-token-webhook-version authorization-mode authorization-policy-file ' +
      'authorization-webhook-cache-authorized-ttl authorization-webhook-cache-unauthorized-ttl ' +
      'authorization-webhook-config-file authorization-webhook-version bind-address cert-dir ' +
      'client-ca-file cloud-config cloud-provider cloud-provider-gce-l7lb-src-cidrs ' +
      'cloud-provider-gce-lb-src-cidrs contention-profiling cors-allowed-origins ' +
      'default-not-ready-toleration-seconds default-unreachable-toleration-seconds ' +
      'default-watch-cache-size delete-collection-workers deserialization-cache-size ' +
      'disable-admission-plugins egress-selector-config-file enable-admission-plugins ' +
      'enable-aggregator-routing enable-bootstrap-token-auth enable-garbage-collector ' +
      'enable-logs-handler enable-priority-and-fairness enable-swagger-ui ' +
      'encryption-provider-config endpoint-reconciler-type etcd-cafile etcd-certfile ' +
      'etcd-compaction-interval etcd-count-metric-poll-period etcd-db-metric-poll-interval ' +
      'etcd-healthcheck-timeout etcd-keyfile etcd-prefix etcd-servers etcd-servers-overrides ' +
      'event-ttl experimental-encryption-provider-config experimental-logging-sanitization ' +
      'external-hostname feature-gates goaway-chance help http2-max-streams-per-connection ' +
      'identity-lease-duration-seconds identity-lease-renew-interval-seconds insecure-bind-address ' +
      'insecure-port kubelet-certificate-authority kubelet-client-certificate kubelet-client-key ' +
      'kubelet-https kubelet-port kubelet-preferred-address-types kubelet-read-only-port ' +
      'kubelet-timeout kubernetes-service-node-port livez-grace-period log-backtrace-at log-dir ' +
      'log-file log-file-max-size log-flush-frequency logging-format logtostderr ' +
      'master-service-namespace max-connection-bytes-per-sec max-mutating-requests-inflight ' +
      'max-requests-inflight min-request-timeout oidc-ca-file oidc-client-id oidc-groups-claim ' +
      'oidc-groups-prefix oidc-issuer-url oidc-required-claim oidc-signing-algs oidc-username-claim ' +
      'oidc-username-prefix one-output permit-port-sharing port profiling proxy-client-cert-file ' +
      'proxy-client-key-file request-timeout requestheader-allowed-names ' +
      'requestheader-client-ca-file requestheader-extra-headers-prefix requestheader-group-headers ' +
      'requestheader-username-headers runtime-config secure-port service-account-api-audiences ' +
      'service-account-extend-token-expiration service-account-issuer service-account-jwks-uri ' +
      'service-account-key-file service-account-lookup service-account-max-token-expiration ' +
      'service-account-signing-key-file service-cluster-ip-range service-node-port-range ' +
      'show-hidden-metrics-for-version shutdown-delay-duration skip-headers skip-log-headers ' +
      'ssh-keyfile ssh-user stderrthreshold storage-backend storage-media-type target-ram-mb ' +
      'tls-cert-file tls-cipher-suites tls-min-version tls-private-key-file tls-sni-cert-key ' +
      'token-auth-file v version vmodule watch-cache watch-cache-sizes',
  ),
  etcd: words(
    'advertise-client-urls auth-token auth-token-ttl auto-compaction-mode ' +
      'auto-compaction-retention auto-tls backend-batch-interval backend-batch-limit bcrypt-cost ' +
      'cert-file cipher-suites client-cert-allowed-hostname client-cert-auth client-crl-file cors ' +
      'data-dir debug discovery discovery-fallback discovery-proxy discovery-srv discovery-srv-name ' +
      'election-timeout enable-pprof enable-v2 experimental-backend-bbolt-freelist-type ' +
      'experimental-compaction-batch-limit experimental-corrupt-check-time ' +
      'experimental-enable-lease-checkpoint experimental-enable-v2v3 ' +
      'experimental-initial-corrupt-check experimental-peer-skip-client-san-verification ' +
      'experimental-warning-apply-duration experimental-watch-progress-notify-interval ' +
      'force-new-cluster grpc-keepalive-interval grpc-keepalive-min-time grpc-keepalive-timeout ' +
      'heartbeat-interval host-whitelist initial-advertise-peer-urls initial-cluster ' +
      'initial-cluster-state initial-cluster-token initial-election-tick-advance key-file ' +
      'listen-client-urls listen-metrics-urls listen-peer-urls log-level log-outputs ' +
      'log-package-levels logger max-concurrent-streams max-request-bytes max-snapshots max-txn-ops ' +
      'max-wals metrics name peer-auto-tls peer-cert-allowed-cn peer-cert-allowed-hostname ' +
      'peer-cert-file peer-client-cert-auth peer-crl-file peer-key-file peer-trusted-ca-file ' +
      'pre-vote proxy proxy-dial-timeout proxy-failure-wait proxy-read-timeout ' +
      'proxy-refresh-interval proxy-write-timeout quota-backend-bytes snapshot-count ' +
      'strict-reconfig-check trusted-ca-file wal-dir',
  ),
  'controller-manager': words(
    'add-dir-header address allocate-node-cidrs allow-untagged-cloud alsologtostderr ' +
      'attach-detach-reconcile-sync-period authentication-kubeconfig authentication-skip-lookup ' +
      'authentication-token-webhook-cache-ttl authentication-tolerate-lookup-failure ' +
      'authorization-always-allow-paths authorization-kubeconfig ' +
      'authorization-webhook-cache-authorized-ttl authorization-webhook-cache-unauthorized-ttl ' +
      'bind-address cert-dir cidr-allocator-type client-ca-file cloud-config cloud-provider ' +
      'cloud-provider-gce-lb-src-cidrs cluster-cidr cluster-name cluster-signing-cert-file ' +
      'cluster-signing-duration cluster-signing-key-file ' +
      'cluster-signing-kube-apiserver-client-cert-file ' +
      'cluster-signing-kube-apiserver-client-key-file cluster-signing-kubelet-client-cert-file ' +
      'cluster-signing-kubelet-client-key-file cluster-signing-kubelet-serving-cert-file ' +
      'cluster-signing-kubelet-serving-key-file cluster-signing-legacy-unknown-cert-file ' +
      'cluster-signing-legacy-unknown-key-file concurrent-deployment-syncs ' +
      'concurrent-endpoint-syncs concurrent-gc-syncs concurrent-namespace-syncs ' +
      'concurrent-replicaset-syncs concurrent-resource-quota-syncs ' +
      'concurrent-service-endpoint-syncs concurrent-service-syncs ' +
      'concurrent-serviceaccount-token-syncs concurrent-statefulset-syncs ' +
      'concurrent-ttl-after-finished-syncs concurrent_rc_syncs configure-cloud-routes ' +
      'contention-profiling controller-start-interval controllers deleting-pods-burst ' +
      'deleting-pods-qps deployment-controller-sync-period disable-attach-detach-reconcile-sync ' +
      'enable-dynamic-provisioning enable-garbage-collector enable-hostpath-provisioner ' +
      'enable-taint-manager endpoint-updates-batch-period endpointslice-updates-batch-period ' +
      'experimental-cluster-signing-duration experimental-logging-sanitization ' +
      'external-cloud-volume-plugin feature-gates flex-volume-plugin-dir help ' +
      'horizontal-pod-autoscaler-cpu-initialization-period ' +
      'horizontal-pod-autoscaler-downscale-delay horizontal-pod-autoscaler-downscale-stabilization ' +
      'horizontal-pod-autoscaler-initial-readiness-delay horizontal-pod-autoscaler-sync-period ' +
      'horizontal-pod-autoscaler-tolerance horizontal-pod-autoscaler-upscale-delay ' +
      'horizontal-pod-autoscaler-use-rest-clients http2-max-streams-per-connection kube-api-burst ' +
      'kube-api-content-type kube-api-qps kubeconfig large-cluster-size-threshold leader-elect ' +
      'leader-elect-lease-duration leader-elect-renew-deadline leader-elect-resource-lock ' +
      'leader-elect-resource-name leader-elect-resource-namespace leader-elect-retry-period ' +
      'log-backtrace-at log-dir log-file log-file-max-size log-flush-frequency logging-format ' +
      'logtostderr master max-endpoints-per-slice min-resync-period ' +
      'mirroring-concurrent-service-endpoint-syncs mirroring-endpointslice-updates-batch-period ' +
      'mirroring-max-endpoints-per-subset namespace-sync-period node-cidr-mask-size ' +
      'node-cidr-mask-size-ipv4 node-cidr-mask-size-ipv6 node-eviction-rate ' +
      'node-monitor-grace-period node-monitor-period node-startup-grace-period node-sync-period ' +
      'one-output permit-port-sharing pod-eviction-timeout port profiling ' +
      'pv-recycler-increment-timeout-nfs pv-recycler-minimum-timeout-hostpath ' +
      'pv-recycler-minimum-timeout-nfs pv-recycler-pod-template-filepath-hostpath ' +
      'pv-recycler-pod-template-filepath-nfs pv-recycler-timeout-increment-hostpath ' +
      'pvclaimbinder-sync-period register-retry-count requestheader-allowed-names ' +
      'requestheader-client-ca-file requestheader-extra-headers-prefix requestheader-group-headers ' +
      'requestheader-username-headers resource-quota-sync-period root-ca-file ' +
      'route-reconciliation-period secondary-node-eviction-rate secure-port ' +
      'service-account-private-key-file service-cluster-ip-range show-hidden-metrics-for-version ' +
      'skip-headers skip-log-headers stderrthreshold terminated-pod-gc-threshold tls-cert-file ' +
      'tls-cipher-suites tls-min-version tls-private-key-file tls-sni-cert-key ' +
      'unhealthy-zone-threshold use-service-account-credentials v version vmodule ' +
      'volume-host-allow-local-loopback volume-host-cidr-denylist',
  ),
  scheduler: words(
    'add-dir-header address algorithm-provider alsologtostderr authentication-kubeconfig ' +
      'authentication-skip-lookup authentication-token-webhook-cache-ttl ' +
      'authentication-tolerate-lookup-failure authorization-always-allow-paths ' +
      'authorization-kubeconfig authorization-webhook-cache-authorized-ttl ' +
      'authorization-webhook-cache-unauthorized-ttl bind-address cert-dir client-ca-file config ' +
      'contention-profiling experimental-logging-sanitization feature-gates ' +
      'hard-pod-affinity-symmetric-weight help http2-max-streams-per-connection kube-api-burst ' +
      'kube-api-content-type kube-api-qps kubeconfig leader-elect leader-elect-lease-duration ' +
      'leader-elect-renew-deadline leader-elect-resource-lock leader-elect-resource-name ' +
      'leader-elect-resource-namespace leader-elect-retry-period lock-object-name ' +
      'lock-object-namespace log-backtrace-at log-dir log-file log-file-max-size ' +
      'log-flush-frequency logging-format logtostderr master one-output permit-port-sharing ' +
      'policy-config-file policy-configmap policy-configmap-namespace port profiling ' +
      'requestheader-allowed-names requestheader-client-ca-file requestheader-extra-headers-prefix ' +
      'requestheader-group-headers requestheader-username-headers scheduler-name secure-port ' +
      'show-hidden-metrics-for-version skip-headers skip-log-headers stderrthreshold tls-cert-file ' +
      'tls-cipher-suites tls-min-version tls-private-key-file tls-sni-cert-key ' +
      'use-legacy-policy-config v version vmodule write-config-to',
  ),
};
