/**
 * @unwind/progress — a live progress display for unwind transactions and
 * recoveries: redrawn in place on a terminal, one plain line per transition
 * on a pipe, with every control character in what it shows escaped
 * ({@link printable}). Depends only on `@unwind/core`.
 *
 * @packageDocumentation
 * @module @unwind/progress
 */
export { renderProgress } from './progress.js';
export type { ProgressOptions, ProgressRenderer, EventSource } from './progress.js';
export { shouldColor, styler } from './style.js';
export type { Output, Styler, StyleName } from './style.js';
export { formatDuration, errorLine, errorDetails, plural } from './format.js';
export { printable, printableData } from './printable.js';
