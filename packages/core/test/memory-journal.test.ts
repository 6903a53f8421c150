import { describe, expect, it } from 'vitest';
import { fileJournal, memoryJournal, transaction, type Journal, type JournalRecord, type TransactionJournal } from '@unwind/core';
import { failingStep, noopStep, writeMarker } from '@unwind/core/testing';
import { join } from 'node:path';
import { tempDir } from './helpers.js';

// A memory journal keeps the records every step writes as columns and makes the record
// objects as they are read: what a reader gets must be what a file journal of the same
// transaction holds, in one plain array that each read of `records` brings up to date.

/** A transaction of three steps whose third fails: prepared, done, verified, failed, rollback, undone and end records. */
async function runFailing(journal: Journal, dir: string, onBegin?: (journal: TransactionJournal) => void): Promise<TransactionJournal> {
  let opened: TransactionJournal | undefined;
  const tx = transaction('records', {
    journal,
    handleSignals: false,
    onEvent: (event) => {
      if (event.type !== 'transaction:begin') return;
      opened = 'transactions' in journal ? (journal as ReturnType<typeof memoryJournal>).transactions.at(-1) : undefined;
      if (opened) onBegin?.(opened);
    },
  });
  tx.add(writeMarker({ path: join(dir, 'a'), content: 'A' }, { label: 'first' }));
  tx.add(noopStep({}));
  tx.add(failingStep({ message: 'injected' }));
  const outcome = await tx.run();
  expect(outcome.status).toBe('rolled-back');
  return opened!;
}

/** A record without what differs between two runs: time, ids, process, paths. */
function comparable(record: JournalRecord): unknown {
  const { at, ...rest } = record as JournalRecord & Record<string, unknown>;
  expect(typeof at).toBe('number');
  for (const key of ['id', 'pid', 'host', 'description', 'args', 'before', 'after', 'reason', 'error']) if (key in rest) rest[key] = typeof rest[key];
  return rest;
}

describe('a memory journal\'s records', () => {
  it('are what a file journal of the same transaction holds: same kinds, fields in the same order, seq without gaps', async () => {
    const base = tempDir();
    try {
      const memory = memoryJournal();
      const kept = await runFailing(memory, base.path);
      const root = join(base.path, 'journal');
      const file = fileJournal({ root, retention: 'keep' });
      let fileRecords: readonly JournalRecord[] = [];
      const tx = transaction('records', { journal: { ...file, begin: (name, meta) => { const tj = file.begin(name, meta); fileRecords = tj.records; return tj; } } as Journal, handleSignals: false });
      tx.add(writeMarker({ path: join(base.path, 'b'), content: 'A' }, { label: 'first' }));
      tx.add(noopStep({}));
      tx.add(failingStep({ message: 'injected' }));
      expect((await tx.run()).status).toBe('rolled-back');
      expect(kept.records.map((r) => Object.keys(r))).toEqual(fileRecords.map((r) => Object.keys(r)));
      expect(kept.records.map(comparable)).toEqual(fileRecords.map(comparable));
      expect(kept.records.map((r) => r.seq)).toEqual(kept.records.map((_, i) => i + 1));
      expect(kept.records.map((r) => r.kind)).toEqual(['begin', 'prepared', 'done', 'verified', 'prepared', 'done', 'verified', 'prepared', 'failed', 'rollback', 'undone', 'undone', 'undone', 'end']);
      const times = kept.records.map((r) => r.at);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    } finally {
      base.remove();
    }
  });

  it('hold the values the runner wrote: a prepared record the step\'s own arguments and before, a done record its after', async () => {
    const base = tempDir();
    try {
      const journal = memoryJournal();
      const args = { path: join(base.path, 'a'), content: 'A' };
      const tx = transaction('values', { journal, handleSignals: false });
      tx.add(writeMarker(args));
      expect((await tx.run()).status).toBe('committed');
      const [, prepared, done, verified] = journal.transactions[0]!.records;
      expect(prepared).toMatchObject({ kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core/testing', description: `write ${args.path}`, args, seq: 2 });
      expect((prepared as { before: unknown }).before).toEqual({ existed: false });
      expect(done).toMatchObject({ kind: 'done', step: 0, after: { bytes: 1 }, attempts: 1, seq: 3 });
      expect(verified).toEqual({ kind: 'verified', step: 0, seq: 4, at: verified!.at });
    } finally {
      base.remove();
    }
  });

  it('are one plain array, brought up to date by each read of records: the same array of the same objects', async () => {
    const base = tempDir();
    try {
      let held: readonly JournalRecord[] = [];
      let lengthAtBegin = -1;
      const kept = await runFailing(memoryJournal(), base.path, (tj) => {
        held = tj.records;
        lengthAtBegin = held.length;
      });
      expect(lengthAtBegin).toBe(1);
      expect(kept.records).toBe(held);
      expect(held.length).toBe(14);
      expect(kept.records[2]).toBe(held[2]);
      expect(Array.isArray(held)).toBe(true);
      expect(Object.getPrototypeOf(held)).toBe(Array.prototype);
      // A plain array: it can be cloned and sent to a worker, and shows every record.
      expect(structuredClone(held)).toEqual([...held]);
      expect(JSON.parse(JSON.stringify(held))).toEqual([...held]);
    } finally {
      base.remove();
    }
  });
});
