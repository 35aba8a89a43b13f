// Until src/cli/inspect.ts imports commands/inspect.ts (the layering test's allowlist names this file).
export { checkExpiration } from '../commands/inspect.js';
