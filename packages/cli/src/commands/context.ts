import type { Output, Styler } from '@unwind/progress';

/** What a command runs with: its output streams, environment and clock. Tests may replace any of them. */
export interface CommandIO {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
  now: () => number;
  /** Read by `unwind apply -`. Default `process.stdin`. */
  stdin?: NodeJS.ReadableStream;
  /** Styling for stdout. */
  style: Styler;
}

/** Writes lines to an output. */
export function println(out: Output, ...lines: string[]): void {
  for (const line of lines) out.write(`${line}\n`);
}

/**
 * The version of every command's `--json` output (the `version` field): it
 * changes when a field is removed or changes meaning, not when one is added.
 * The shapes are in docs/schemas/.
 */
export const JSON_OUTPUT_VERSION = 1;

/** Fields holding a point in time: written as ISO 8601 (UTC), or null when unknown. */
const TIMESTAMPS: ReadonlySet<string> = new Set(['at', 'startedAt', 'lastAt', 'acquiredAt']);

function isoTimestamps(key: string, value: unknown): unknown {
  if (!TIMESTAMPS.has(key) || typeof value !== 'number') return value;
  return value > 0 ? new Date(value).toISOString() : null;
}

// JSON escapes C0 itself but writes DEL and C1 raw; a terminal takes U+009B as CSI. They occur only inside strings.
// eslint-disable-next-line no-control-regex
const RAW_IN_JSON = /[\u007f-\u009f]/g;

/**
 * Writes a command's JSON output: `version` first, timestamps as ISO 8601,
 * DEL and C1 characters as `\u` escapes (the same string to a JSON reader,
 * and no instruction to a terminal the output is shown on).
 */
export function printJson(out: Output, value: Record<string, unknown>): void {
  const text = JSON.stringify({ version: JSON_OUTPUT_VERSION, ...value }, isoTimestamps, 2);
  out.write(`${text.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`);
}
