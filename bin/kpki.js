#!/usr/bin/env node
import { availableParallelism } from 'node:os';

// Key generation runs on libuv's thread pool; size it to the machine before anything uses it.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
const { main } = await import('../dist/cli/kpki.mjs');
const status = await main(process.argv.slice(2));
// After Ctrl-C, do not wait for key generation still running on the thread pool.
if (status === 130) process.exit(status);
process.exitCode = status;
