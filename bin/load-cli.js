// bin/load-cli.cjs for ES modules (scripts/bundle.mjs, the benchmarks, the tests).
import loader from './load-cli.cjs';

export const { BUNDLES, READ_COMMANDS, bundleFor, sizeThreadPool, loadCli } = loader;
