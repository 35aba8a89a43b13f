#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { bundleFor, loadCli, sizeThreadPool } from './load-cli.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // Answered without loading the CLI bundle (two thirds of the time otherwise); the line cac prints.
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  console.log(`kpki/${version} ${process.platform}-${process.arch} node-${process.version}`);
} else {
  sizeThreadPool();
  const { main } = loadCli(bundleFor(argv));
  const status = await main(argv);
  if (status === 130) {
    // Interrupted, with the lock released and every written file complete. A normal exit would wait
    // for key generation still running on the thread pool; dying by the signal does not (status 130).
    process.removeAllListeners('SIGINT');
    process.kill(process.pid, 'SIGINT');
  }
  process.exitCode = status;
}
