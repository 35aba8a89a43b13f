// Loaded with --import by racing CLI runs: holds each process until the file named by
// KPKI_TEST_BARRIER exists, so that the runs start their work together rather than staggered
// by process start-up.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const file = process.env.KPKI_TEST_BARRIER;
if (file) while (!existsSync(file)) await sleep(1);
