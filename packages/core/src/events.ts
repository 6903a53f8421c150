import type { LockHolder, SerializedError } from './errors.js';

/**
 * Every transition of a transaction, for progress displays and logs.
 * `step` is the step's index; `description` its one human line.
 * `lock:stale`: the lock of a dead process (`holder`) was taken over — an
 * earlier run crashed; recovery handles what it left.
 *
 * @example
 * ```ts
 * tx.on((event: TransactionEvent) => {
 *   if (event.type === 'step:failed') console.error(`step ${event.step + 1} failed: ${event.error.message}`);
 * });
 * ```
 */
export type TransactionEvent =
  | { type: 'lock:stale'; path: string; holder: LockHolder }
  | { type: 'transaction:begin'; name: string; transactionId: string; steps: number }
  | { type: 'step:prepare'; step: number; description: string }
  | { type: 'step:start'; step: number; description: string }
  | { type: 'step:retry'; step: number; description: string; attempt: number; error: SerializedError; phase: 'do' | 'undo' | 'commit' }
  | { type: 'step:done'; step: number; description: string; durationMs: number; attempts: number }
  | { type: 'step:verified'; step: number; description: string }
  | { type: 'step:failed'; step: number; description: string; error: SerializedError; durationMs: number }
  | { type: 'rollback:start'; reason: SerializedError; steps: number }
  | { type: 'undo:start'; step: number; description: string }
  | { type: 'undo:done'; step: number; description: string; durationMs: number; attempts: number }
  | { type: 'undo:failed'; step: number; description: string; error: SerializedError }
  | { type: 'commit-point' }
  | { type: 'commit:start'; step: number; description: string }
  | { type: 'commit:done'; step: number; description: string }
  | { type: 'commit:failed'; step: number; description: string; error: SerializedError }
  | { type: 'signal'; signal: string; count: number }
  | { type: 'transaction:end'; status: string; durationMs: number };

/**
 * The `type` of a {@link TransactionEvent}.
 *
 * @example
 * ```ts
 * const seen = new Set<TransactionEventType>();
 * tx.on((event) => { seen.add(event.type); });
 * ```
 */
export type TransactionEventType = TransactionEvent['type'];

/**
 * Receives events. A listener that throws is ignored (and logged): progress display never breaks a transaction.
 *
 * @example
 * ```ts
 * const undone: number[] = [];
 * const onEvent: EventListener = (event) => { if (event.type === 'undo:done') undone.push(event.step); };
 * await recover({ root: '/var/lib/app/unwind', kinds, onEvent });
 * ```
 */
export type EventListener = (event: TransactionEvent) => void;
