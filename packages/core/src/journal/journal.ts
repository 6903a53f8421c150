import type { BlobStore } from './blobs.js';
import type { JournalRecord, JournalRecordBody } from './records.js';
import type { Lock } from '../lock.js';

/**
 * What happens to a finished transaction's journal directory:
 * `remove` deletes it, `keep` keeps it forever, `{ keepLast: n }` keeps the
 * newest n finished ones (for `unwind log`). Unfinished or stuck transactions
 * are always kept: recovery needs them. With `remove`, a directory reused
 * from an earlier transaction never has its new name synced (its records
 * are synced as ever): after a power cut, recovery finds them under the
 * name the directory had before (see adoptReusedJournal).
 *
 * @example
 * ```ts
 * const journal = fileJournal({ root: '/var/lib/app/unwind', retention: { keepLast: 50 } }); // or 'keep', 'remove'
 * ```
 */
export type Retention = 'remove' | 'keep' | { keepLast: number };

/**
 * Where transactions are journaled. {@link fileJournal} is the durable
 * default; {@link memoryJournal} is for tests and pure logic.
 *
 * @example
 * ```ts
 * const journal: Journal = durable ? fileJournal({ root: '/var/lib/app/unwind' }) : memoryJournal();
 * const tx = transaction('install app', { journal });
 * ```
 */
export interface Journal {
  readonly durable: boolean;
  /** The root directory, for a file journal. */
  readonly root: string | undefined;
  /** Takes this journal's lock. Throws LockHeldError when a live process holds it. */
  lock(purpose: string): Lock;
  /** Starts a transaction's journal: writes and syncs `begin`. */
  begin(name: string, meta?: Record<string, unknown>): TransactionJournal;
  /** What to do with finished transactions. */
  readonly retention: Retention;
  /**
   * Ids of transactions under this journal that have not ended (crashed, or
   * stuck after a failed rollback): a new run is refused while there are any.
   * A journal that cannot be recovered (memory) has none.
   */
  unfinished?(): string[];
}

/**
 * One transaction's journal.
 *
 * @example
 * ```ts
 * const journal = memoryJournal();
 * await transaction('test', { journal }).run();
 * const tj: TransactionJournal = journal.transactions[0]!;
 * console.log(tj.id, tj.records.map((r) => r.kind)); // memory-1 [ 'begin', 'commit-point', 'end' ]
 * ```
 */
export interface TransactionJournal {
  readonly id: string;
  /** The journal file, for a file journal. */
  readonly path: string | undefined;
  /**
   * Appends a record. With `sync`, it is on disk when this returns; without,
   * it is written (a SIGKILL keeps it) but may be lost to a power cut — except
   * in a file journal that took over a reused directory, which holds such
   * records until a synced one covers the earlier journal's records (a
   * SIGKILL before its first synced record leaves that earlier, finished
   * journal: nothing was prepared). With
   * `'with-next'`, it is written together with the next record, in one
   * write: only for a caller that appends the next record at once, with no
   * other code between the two (the runner's `done` and `verified` of a
   * step without a check).
   */
  append(body: JournalRecordBody, sync: boolean | 'with-next'): JournalRecord;
  /** Every record appended so far (and, when reopened, read back), as of this read: read it again for the records appended since. */
  readonly records: readonly JournalRecord[];
  /** Blob storage for one step. */
  blobs(step: number): BlobStore;
  /** Closes the journal; on a finished transaction, applies retention. */
  close(finished: boolean): void;
}
