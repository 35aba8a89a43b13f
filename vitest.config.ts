import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Interop suites start real etcd/openssl/kubectl processes and generate RSA keys.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: run files side by side but not more, so key generation stays fast.
    maxWorkers: 2,
  },
});
