// Shared helpers for benchmarks: a scratch directory on the real disk (never
// tmpfs, where fsync is free and the figures would lie), a timer, the report
// of a row (printed, and kept for `pnpm bench -- --markdown`), and the
// event-loop stall of an operation.
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

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A count with thousands separators. */
export function count(n) {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * Reports one row of the benchmark table: printed at once, and appended to
 * the file run.mjs names in UNWIND_BENCH_REPORT, from which it builds the
 * markdown table. `ratio` is unwind against its baseline, as the goal states it.
 */
export function report(row) {
  const { figure, baseline, unwind, ratio, goal, met } = row;
  const verdict = met === undefined ? '' : met ? ' [goal met]' : ' [goal NOT met]';
  console.log(`${figure}\n  baseline: ${baseline}\n  unwind:   ${unwind}\n  ratio:    ${ratio}   goal: ${goal}${verdict}`);
  writeReportLine({ table: 'figures', ...row });
}

/**
 * Runs `fn` and measures the longest event-loop stall during it: the longest
 * gap between two callbacks of a 1 ms interval timer (and from the last one
 * to the end of `fn`). A loop that is never blocked shows 1-2 ms. (perf_hooks'
 * monitorEventLoopDelay was tried first: it reported 3 ms for a 2.5 s
 * operation during which a 1 ms timer never fired once.) Reported as a row
 * of the stall table; returns what `fn` returned.
 */
export async function measureStall(operation, fn) {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  // Let the timer run before the operation can block the loop.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const start = performance.now();
  last = start;
  longest = 0;
  let result;
  try {
    result = await fn();
  } finally {
    const end = performance.now();
    longest = Math.max(longest, end - last);
    clearInterval(timer);
    const seconds = (end - start) / 1000;
    console.log(`  event-loop stall, ${operation}: longest ${longest.toFixed(1)} ms over ${seconds.toFixed(2)} s`);
    writeReportLine({ table: 'stalls', operation, longestMs: longest, seconds });
  }
  return result;
}

function writeReportLine(entry) {
  const file = process.env.UNWIND_BENCH_REPORT;
  if (file) fs.appendFileSync(file, `${JSON.stringify({ script: process.argv[1]?.split('/').pop(), ...entry })}\n`);
}

/** Says what the benchmark needs and is missing, in the report too, and ends the script with exit 2. */
export function missing(what, how) {
  console.log(`MISSING: ${what} — ${how}`);
  writeReportLine({ table: 'missing', what, how });
  process.exit(2);
}
