// Shared helpers for benchmarks: a scratch directory on the real disk (never
// tmpfs, where fsync is free and the figures would lie) and a timer.
import * as fs from 'node:fs';
import { join } from 'node:path';

export function scratch(name) {
  const base = process.env.UNWIND_BENCH_DIR ?? join(import.meta.dirname, '..', '.bench-tmp');
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(join(base, `${name}-`));
}

export async function time(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function rate(count, seconds) {
  return Math.round(count / seconds).toLocaleString('en-US');
}
