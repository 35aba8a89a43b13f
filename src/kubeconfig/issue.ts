// Until src/cli/kubeconfig.ts imports commands/kubeconfig.ts (the layering test's allowlist names this file).
export { issueKubeconfig } from '../commands/kubeconfig.js';
