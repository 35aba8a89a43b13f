import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two cores: run files side by side but not more, so key generation stays fast.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit-integration-interop',
          include: ['test/**/*.test.ts'],
          exclude: ['test/cluster/**'],
          // Interop suites start real etcd/openssl/kubectl processes and generate RSA keys.
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          // A real control plane (etcd, two kube-apiservers, haproxy, controller manager, sample-apiserver):
          // starting it and restarting apiservers with seeded faults takes minutes on two cores.
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // One cluster at a time: two would fight over the cores and slow every readiness wait.
          fileParallelism: false,
        },
      },
    ],
  },
});
