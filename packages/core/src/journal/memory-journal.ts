import * as fs from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockHeldError } from '../errors.js';
import type { Lock } from '../lock.js';
import { MemoryBlobStore, type BlobStore } from './blobs.js';
import type { Journal, TransactionJournal } from './journal.js';
import { MemoryRecords } from './memory-records.js';
import { JOURNAL_FORMAT, stamp, type JournalRecord, type JournalRecordBody } from './records.js';

let counter = 0;

/**
 * A journal kept in memory: nothing survives the process, so it protects
 * against errors, failed checks, timeouts and signals, but not against a
 * crash. For tests and for logic that touches nothing durable.
 *
 * @example
 * ```ts
 * const tx = transaction('test', { journal: memoryJournal() });
 * ```
 */
export function memoryJournal(): Journal & { readonly transactions: readonly TransactionJournal[] } {
  let held: Lock | undefined;
  const transactions: TransactionJournal[] = [];
  return {
    durable: false,
    root: undefined,
    retention: 'keep',
    transactions,
    lock(purpose) {
      if (held) throw new LockHeldError('memory', held.holder);
      const lock: Lock = {
        path: 'memory',
        holder: { pid: process.pid, host: hostname(), processStart: '', acquiredAt: new Date().toISOString(), purpose },
        release() {
          if (held === lock) held = undefined;
        },
      };
      held = lock;
      return lock;
    },
    begin(name, meta) {
      const id = `memory-${++counter}`;
      const journal = new MemoryTransactionJournal(id);
      journal.append({ kind: 'begin', format: JOURNAL_FORMAT, id, name, pid: process.pid, host: hostname(), ...(meta ? { meta } : {}) }, true);
      transactions.push(journal);
      return journal;
    },
  };
}

class MemoryTransactionJournal implements TransactionJournal {
  readonly path = undefined;
  private readonly kept = new MemoryRecords();
  private readonly temps: string[] = [];
  constructor(readonly id: string) {}

  /** Every record appended so far: one plain array, which each read of `records` brings up to date (see MemoryRecords). */
  get records(): readonly JournalRecord[] {
    return this.kept.view;
  }

  append(body: JournalRecordBody, _sync: boolean | 'with-next'): JournalRecord {
    // The body is a fresh literal from the runner: stamping it in place saves a copy per record.
    const record = stamp(body, this.kept.length + 1);
    this.kept.add(record);
    return record;
  }

  private readonly stores = new Map<number, BlobStore>();

  blobs(step: number): BlobStore {
    let store = this.stores.get(step);
    if (!store) {
      store = new MemoryBlobStore(() => {
        const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-blobs-'));
        this.temps.push(dir);
        return dir;
      });
      this.stores.set(step, store);
    }
    return store;
  }

  close(_finished: boolean): void {
    for (const dir of this.temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
}
