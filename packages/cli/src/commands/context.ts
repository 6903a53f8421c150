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

/** Writes a value as pretty JSON. */
export function printJson(out: Output, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}
