#!/usr/bin/env node
// One `kpki init` run in this process the way bin/kpki.js runs it, timed at each step the CLI
// reports (bundle loaded, key generation started, each key ready, each file staged), for the
// benchmark's breakdown of where the time goes. Prints one JSON object: ms since the process
// started (performance.now()) and this process's CPU ms (all threads) at each step.
//
//   node bench/init-timeline.mjs KPKI-INIT-ARGS...
import { performance } from 'node:perf_hooks';
import { loadCli, sizeThreadPool } from '../bin/load-cli.js';

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const marks = {};
const mark = (name) => (marks[name] ??= { at: performance.now(), cpu: cpuMs() });

mark('started');
sizeThreadPool();
const { main } = loadCli();
mark('loaded');
let stdout = '';
let stderr = '';
const output = {
  stdout: (text) => (stdout += text),
  // Progress lines ("generating keys 3/16", "writing files 5/28") are drawn only on a terminal.
  stderr: (text) => {
    stderr += text;
    const progress = /(generating keys|writing files) (\d+)\/(\d+)/.exec(text);
    if (!progress) return;
    const [, phase, done, total] = progress;
    const prefix = phase === 'generating keys' ? 'keys' : 'writes';
    if (done === '0') mark(`${prefix} started`);
    if (done === '1') mark(`${prefix}: first`);
    if (done === total) mark(`${prefix}: last`);
  },
  interactive: true,
};
const status = await main(process.argv.slice(2), output);
mark('returned');
if (status !== 0 || !marks['keys started'] || !marks['writes: last']) {
  process.stderr.write(`init-timeline: kpki init exited ${status} or reported no progress\n${stderr}`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(marks));
