/**
 * @unwind/cli — the `unwind` command (status, recover, log, plan) and a
 * progress renderer for programs that run transactions.
 *
 * @packageDocumentation
 * @module @unwind/cli
 */
export { renderProgress } from './progress.js';
export { exitOnThirdSignal } from './signal-exit.js';
export type { ProgressOptions, ProgressRenderer, EventSource } from './progress.js';
export { runCli, version } from './program.js';
export type { RunOptions } from './program.js';
export { loadKinds, ADAPTER_PACKAGES } from './kinds.js';
export type { LoadedKinds } from './kinds.js';
export { CliError, EXIT } from './errors.js';
export { shouldColor, styler } from './style.js';
export type { Output, Styler, StyleName } from './style.js';
export { formatDuration } from './format.js';
