#!/usr/bin/env node
// The `kpki` command (package.json "bin"). CommonJS: an ES module entry would start Node's ES
// module loader, about a tenth of a short command's own CPU time.
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // Answered without loading the CLI bundle (two thirds of the time otherwise); the line cac prints.
  const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  console.log(`kpki/${version} ${process.platform}-${process.arch} node-${process.version}`);
} else {
  const { bundleFor, loadCli, sizeThreadPool } = require('./load-cli.cjs');
  sizeThreadPool();
  const { main } = loadCli(bundleFor(argv));
  main(argv).then((status) => {
    if (status === 130) {
      // Interrupted, with the lock released and every written file complete. A normal exit would wait
      // for key generation still running on the thread pool; dying by the signal does not (status 130).
      process.removeAllListeners('SIGINT');
      process.kill(process.pid, 'SIGINT');
    }
    process.exitCode = status;
  });
}
