/**
 * @unwind/cli — the `unwind` command (apply, status, recover, log, plan) and a
 * progress renderer for programs that run transactions.
 *
 * @packageDocumentation
 * @module @unwind/cli
 */
// The progress display lives in @unwind/progress (it needs no adapter); re-exported for programs that import it from here.
export { renderProgress, printable, printableData } from '@unwind/progress';
export { exitOnThirdSignal } from './signal-exit.js';
export { parseCommandLine } from './command-line.js';
export type { CommandLine, CommandLineSpec } from './command-line.js';
export type { ProgressOptions, ProgressRenderer, EventSource } from '@unwind/progress';
export { runCli, version } from './program.js';
export type { RunOptions } from './program.js';
export { loadKinds, ADAPTER_PACKAGES } from './kinds.js';
export type { LoadedKinds } from './kinds.js';
export { CliError, EXIT } from './errors.js';
export { shouldColor, styler, formatDuration } from '@unwind/progress';
export type { Output, Styler, StyleName } from '@unwind/progress';
export { parseTransactionText, readTransactionFile } from './apply/load.js';
export type { ParsedFile } from './apply/load.js';
export { checkTransactionFile } from './apply/check.js';
export type { CheckedFile, CheckedStep } from './apply/check.js';
export { buildTransaction } from './apply/build.js';
export type { BuildOptions } from './apply/build.js';
export { TransactionFileError, problemLines } from './apply/problems.js';
export type { Problem } from './apply/problems.js';
export { FORMAT_VERSION, SCHEMA_ID } from './apply/file-format.js';
export type { TransactionFile, StepEntry } from './apply/file-format.js';
export { REFERENCE_KEY } from './apply/references.js';
export { codecToJsonSchema, transactionFileSchema, UnsupportedCodecError } from './apply/schema.js';
export type { JsonSchema } from './apply/schema.js';
