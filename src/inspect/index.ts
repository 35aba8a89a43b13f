// Until src/cli/inspect.ts imports commands/inspect.ts (the layering test's allowlist names this file).
export { inspect } from '../commands/inspect.js';
