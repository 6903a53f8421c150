import { fileJournal, transaction, type AnyStepKind, type ResultReader, type StepHandle, type StepOptions, type Transaction, type TransactionOptions } from '@unwind/core';
import type { CheckedFile } from './check.js';
import { resolveReferences } from './references.js';

/**
 * How to build the transaction of a checked file: the journal root, the
 * kinds recovery may meet, and the run's own options (events, signals).
 *
 * @example
 * ```ts
 * const options: BuildOptions = { root: '/var/lib/app/unwind', kinds, recoverFirst: false };
 * ```
 */
export interface BuildOptions {
  /** The journal root. */
  root: string;
  /** Receives every event (the progress display). */
  onEvent?: TransactionOptions['onEvent'];
  /** Called on a third SIGINT/SIGTERM during the run. */
  onThirdSignal?: TransactionOptions['onThirdSignal'];
  /** The program runner given to steps. Default: the library's own. */
  exec?: TransactionOptions['exec'];
  /** Turn SIGINT/SIGTERM into a rollback while running. Default true. */
  handleSignals?: boolean;
  /** Every registered kind, for recovering older journals first. */
  kinds: readonly AnyStepKind[];
  /** `--recover-first`: overrides the file's `recoverFirst` when set. */
  recoverFirst?: boolean;
}

/**
 * Turns a checked transaction file into the same `Transaction` a TypeScript
 * program would build: `transaction(name, { journal: fileJournal({ root }), … })`
 * and one `tx.add(kind(args, { label, timeoutMs, retry }))` per step; a step
 * with references gets arguments computed from the earlier steps' results
 * just before it runs, and the runner checks them with the kind's codec then.
 *
 * @example
 * ```ts
 * const tx = buildTransaction(checked, { root, kinds });
 * const outcome = await tx.run();
 * ```
 */
export function buildTransaction(checked: CheckedFile, options: BuildOptions): Transaction {
  const { file } = checked;
  const resumeHint = `unwind recover --root ${options.root}`;
  const tx = transaction(file.name, {
    journal: fileJournal({ root: options.root }),
    resumeHint,
    kinds: options.kinds,
    recoverFirst: options.recoverFirst ?? file.recoverFirst ?? false,
    meta: { source: 'unwind apply' },
    ...(file.timeoutMs !== undefined ? { timeoutMs: file.timeoutMs } : {}),
    ...(file.retry !== undefined ? { retry: file.retry } : {}),
    ...(file.allowIrreversible !== undefined ? { allowIrreversible: file.allowIrreversible } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.onThirdSignal ? { onThirdSignal: options.onThirdSignal } : {}),
    ...(options.exec ? { exec: options.exec } : {}),
    ...(options.handleSignals !== undefined ? { handleSignals: options.handleSignals } : {}),
  });
  const handles = new Map<string, StepHandle<unknown>>();
  for (const step of checked.steps) {
    const { entry, kind, args, references } = step;
    const stepOptions: StepOptions = {
      ...(entry.label !== undefined ? { label: entry.label } : {}),
      ...(entry.timeoutMs !== undefined ? { timeoutMs: entry.timeoutMs } : {}),
      ...(entry.retry !== undefined ? { retry: entry.retry } : {}),
    };
    const handle =
      references.length === 0
        ? tx.add(kind(args, stepOptions))
        : tx.add(kind((get: ResultReader) => resolveReferences(args, (id) => get(handles.get(id)!)), stepOptions));
    if (entry.id !== undefined) handles.set(entry.id, handle);
  }
  return tx;
}
