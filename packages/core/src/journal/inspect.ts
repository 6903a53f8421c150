import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { serializeError, type SerializedError } from '../errors.js';
import { JOURNAL_FILE, REUSABLE, TRANSACTION_ID, isFinished, listTransactionIds } from './file-journal.js';
import { readJournalFile } from './read.js';
import type { EndStatus, JournalRecord } from './records.js';

/**
 * What a journal says about one step.
 *
 * @example
 * ```ts
 * const pending: JournaledStep[] = state.steps.filter((s) => !s.undone).reverse(); // what a rollback would still undo
 * for (const s of pending) console.log(s.index + 1, s.description, s.done ? 'done' : 'started');
 * ```
 */
export interface JournaledStep {
  index: number;
  type: string;
  package: string;
  description: string;
  args: unknown;
  before: unknown;
  after: unknown;
  done: boolean;
  verified: boolean;
  failed?: SerializedError;
  undone: boolean;
  undoFailed?: SerializedError;
  commitDone: boolean;
  preparedAt: number;
  doneAt?: number;
  undoneAt?: number;
  attempts: number;
}

/**
 * The state of one transaction, derived from its records.
 *
 * @example
 * ```ts
 * const state: TransactionState = analyzeRecords(readJournalFile(path).records);
 * console.log(state.name, state.ended ?? `unfinished: recover would ${state.recovery}`);
 * ```
 */
export interface TransactionState {
  id: string;
  name: string;
  pid: number;
  host: string;
  startedAt: number;
  lastAt: number;
  meta?: Record<string, unknown>;
  steps: JournaledStep[];
  commitPoint: boolean;
  rollbackReason?: SerializedError;
  rollbackFailed?: number[];
  ended?: EndStatus;
  /** What `recover` would do. */
  recovery: 'none' | 'roll back' | 'finish commit actions';
  records: JournalRecord[];
  tornTail: boolean;
}

/**
 * Derives a transaction's state from its records.
 *
 * @example
 * ```ts
 * const state = analyzeRecords(readJournalFile(path).records);
 * if (state.recovery === 'roll back') ...
 * ```
 */
export function analyzeRecords(records: JournalRecord[], tornTail = false): TransactionState {
  const analysis = new RecordAnalysis(records, tornTail);
  for (const r of records) analysis.add(r);
  return analysis.finish();
}

/**
 * {@link analyzeRecords}, giving the event loop back as it goes: `pause` is
 * asked every thousand records and awaited when it returns a promise. For
 * `recover()`, whose journal may hold hundreds of thousands of records.
 *
 * @example
 * ```ts
 * const slices = new LoopSlices();
 * const state = await analyzeRecordsSliced(records, false, () => (slices.due() ? slices.pause() : undefined));
 * ```
 */
export async function analyzeRecordsSliced(records: JournalRecord[], tornTail: boolean, pause: () => Promise<void> | undefined): Promise<TransactionState> {
  const analysis = new RecordAnalysis(records, tornTail);
  for (let index = 0; index < records.length; index++) {
    if (index % 1000 === 999) {
      const paused = pause();
      if (paused !== undefined) await paused;
    }
    analysis.add(records[index]!);
  }
  return analysis.finish();
}

/** The state {@link analyzeRecords} derives, built a record at a time. */
class RecordAnalysis {
  private readonly state: TransactionState;
  private readonly steps = new Map<number, JournaledStep>();

  constructor(records: JournalRecord[], tornTail: boolean) {
    const begin = records[0];
    this.state = {
      id: begin?.kind === 'begin' ? begin.id : 'unknown',
      name: begin?.kind === 'begin' ? begin.name : 'unknown',
      pid: begin?.kind === 'begin' ? begin.pid : 0,
      host: begin?.kind === 'begin' ? begin.host : '',
      startedAt: begin?.at ?? 0,
      lastAt: records.at(-1)?.at ?? 0,
      steps: [],
      commitPoint: false,
      recovery: 'none',
      records,
      tornTail,
    };
    if (begin?.kind === 'begin' && begin.meta) this.state.meta = begin.meta;
  }

  add(r: JournalRecord): void {
    const { state, steps } = this;
    switch (r.kind) {
      case 'prepared':
        steps.set(r.step, {
          index: r.step, type: r.type, package: r.package, description: r.description, args: r.args, before: r.before,
          after: undefined, done: false, verified: false, undone: false, commitDone: false, preparedAt: r.at, attempts: 0,
        });
        break;
      case 'done': {
        const s = steps.get(r.step);
        if (s) Object.assign(s, { done: true, after: r.after, doneAt: r.at, attempts: r.attempts });
        break;
      }
      case 'verified': { const s = steps.get(r.step); if (s) s.verified = true; break; }
      case 'failed': { const s = steps.get(r.step); if (s) { s.failed = r.error; s.attempts = r.attempts; } break; }
      case 'undone': { const s = steps.get(r.step); if (s) { s.undone = true; s.undoneAt = r.at; delete s.undoFailed; } break; }
      case 'undo-failed': { const s = steps.get(r.step); if (s) s.undoFailed = r.error; break; }
      case 'commit-done': { const s = steps.get(r.step); if (s) s.commitDone = true; break; }
      case 'commit-point': state.commitPoint = true; break;
      case 'rollback': state.rollbackReason = r.reason; break;
      case 'rollback-failed': state.rollbackFailed = r.remaining; break;
      case 'end': state.ended = r.status; break;
      default: break;
    }
  }

  finish(): TransactionState {
    const { state } = this;
    state.steps = [...this.steps.values()].sort((a, b) => a.index - b.index);
    if (!state.ended) state.recovery = state.commitPoint ? 'finish commit actions' : 'roll back';
    return state;
  }
}

/**
 * A transaction under a root, or why its journal could not be read.
 *
 * @example
 * ```ts
 * const unreadable = listTransactions('/var/lib/app/unwind').filter((t: TransactionListing) => t.error !== undefined);
 * ```
 */
export type TransactionListing = { id: string; path: string; state: TransactionState; error?: undefined } | { id: string; path: string; state?: undefined; error: SerializedError };

/**
 * Reads every transaction under a journal root, oldest first. A journal that
 * cannot be read is listed with its error; it is never skipped silently.
 * Nor is one a power cut left unfinished in the root's reusable directory
 * (see adoptReusedJournal): it is listed last, under the id its `begin`
 * names, until the next lock taken on the root gives it that name back.
 *
 * @example
 * ```ts
 * for (const t of listTransactions('/var/lib/app/unwind')) console.log(t.id, t.state?.recovery ?? t.error?.message);
 * ```
 */
export function listTransactions(root: string): TransactionListing[] {
  const listed: TransactionListing[] = listTransactionIds(root).map((id) => {
    const path = join(root, id, JOURNAL_FILE);
    try {
      const { records, tornTail } = readJournalFile(path);
      return { id, path, state: analyzeRecords(records, tornTail) };
    } catch (error) {
      return { id, path, error: serializeError(error) };
    }
  });
  const stranded = strandedJournal(root);
  return stranded ? [...listed, stranded] : listed;
}

/**
 * The ids of the unfinished transactions under a journal root, found by
 * reading only: what a run's `unfinished()` would list, without giving a
 * journal a power cut left in the reusable directory its own name back
 * (`adoptReusedJournal` renames it; this lists it under the id its `begin`
 * names). For a dry run and other readers that must change nothing; the
 * caller checks the root first (`assertPrivateDirectory`).
 *
 * @example
 * ```ts
 * assertPrivateDirectory(root, 'journal root');
 * const pending = unfinishedTransactionIds(root);
 * if (pending.length > 0) console.log(`recover first: ${pending.join(', ')}`);
 * ```
 */
export function unfinishedTransactionIds(root: string): string[] {
  const all = listTransactionIds(root);
  const ids = all.filter((id) => !isFinished(root, id));
  const stranded = strandedJournal(root);
  if (!stranded) return ids;
  // Adoption gives a journal whose id is taken a new one; until then it is the reusable directory's.
  return [...ids, all.includes(stranded.id) ? REUSABLE : stranded.id];
}

/** The unfinished journal a power cut left in the reusable directory, if any (read only: no lock is held here). */
function strandedJournal(root: string): TransactionListing | undefined {
  const path = join(root, REUSABLE, JOURNAL_FILE);
  // Never read through a symlink.
  if (!fs.lstatSync(dirname(path), { throwIfNoEntry: false })?.isDirectory()) return undefined;
  try {
    const { records, tornTail } = readJournalFile(path);
    // Empty or finished: what a transaction hands on, nothing to recover.
    if (records.length === 0 || records.at(-1)!.kind === 'end') return undefined;
    const begin = records[0];
    return { id: begin?.kind === 'begin' && TRANSACTION_ID.test(begin.id) ? begin.id : REUSABLE, path, state: analyzeRecords(records, tornTail) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { id: REUSABLE, path, error: serializeError(error) };
  }
}
