#!/usr/bin/env node
import { availableParallelism } from 'node:os';
import { loadCli } from './load-cli.js';

// Key generation runs on libuv's thread pool; size it to the machine before anything uses it.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism() + 2));
const { main } = loadCli();
const status = await main(process.argv.slice(2));
if (status === 130) {
  // Interrupted, with the lock released and every written file complete. A normal exit would wait
  // for key generation still running on the thread pool; dying by the signal does not (status 130).
  process.removeAllListeners('SIGINT');
  process.kill(process.pid, 'SIGINT');
}
process.exitCode = status;
