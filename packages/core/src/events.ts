import type { SerializedError } from './errors.js';

/**
 * Every transition of a transaction, for progress displays and logs.
 * `step` is the step's index; `description` its one human line.
 */
export type TransactionEvent =
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

/** The `type` of a {@link TransactionEvent}. */
export type TransactionEventType = TransactionEvent['type'];

/** Receives events. A listener that throws is ignored (and logged): progress display never breaks a transaction. */
export type EventListener = (event: TransactionEvent) => void;
