export { FindingCode, type Finding, type Severity } from './findings.js';
export { defineRule, type Rule } from './rule.js';
export type { Facts } from './facts.js';
export type { LiveVerifyOptions, VerifyOptions, VerifyResult } from './options.js';
export { RULES } from './run.js';
export { BENCHMARKS, CHECKS as BENCHMARK_CHECKS, type Benchmark } from './benchmarks.js';
