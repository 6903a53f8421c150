import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { afterEach, describe, expect, it } from 'vitest';
import { defineStep, encodeLine, fileJournal, JOURNAL_FORMAT, listTransactions, readJournalFile, recover, removeTransaction, reopenTransactionJournal, transaction, UnsafeDirectoryError, type JournalRecord } from '@unwind/core';
import { noopStep, replaceFsFunction, testKinds } from '@unwind/core/testing';
import { tempDir } from './helpers.js';

// fileJournal on the real disk: a begin that fails hands no journal back, so it must not keep the
// journal file open; a record appended 'with-next' goes out in one write with the next one.

let sandbox: { path: string; remove: () => void } | undefined;
afterEach(() => sandbox?.remove());

/** The files this process holds open under `dir`. */
function openUnder(dir: string): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(`${dir}/`) ? [target] : [];
    } catch {
      return []; // closed since the listing
    }
  });
}

describe('fileJournal begin', () => {
  it('a begin whose first record cannot be written closes the journal file it opened', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const journal = fileJournal({
      root,
      afterAppend: () => {
        throw new Error('the disk went away after the begin record');
      },
    });
    expect(() => journal.begin('leak check')).toThrow(/disk went away/);
    expect(openUnder(root)).toEqual([]);
  });
});

describe('fileJournal begin checks the root unless a lock it took is held', () => {
  it('under its own held lock, begin trusts the check the lock made; once released, begin checks again', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const journal = fileJournal({ root, retention: 'remove' });
    const lock = journal.lock('check once');
    // Only root could do this after the check passed (the walk proved no one else can write the path).
    fs.chmodSync(root, 0o777);
    const under = journal.begin('under the lock');
    under.close(true);
    lock.release();
    expect(() => journal.begin('after the release')).toThrow(UnsafeDirectoryError);
    fs.chmodSync(root, 0o700);
    // Another journal object on the same root never inherits the first one's check.
    const again = journal.lock('again');
    fs.chmodSync(root, 0o777);
    expect(() => fileJournal({ root }).begin('another journal object')).toThrow(UnsafeDirectoryError);
    again.release();
  });

  it('without a lock, begin refuses a root writable by others before it makes anything', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    fs.mkdirSync(root, { mode: 0o700 });
    fs.chmodSync(root, 0o757);
    expect(() => fileJournal({ root }).begin('refused')).toThrow(UnsafeDirectoryError);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('a run without the journal\'s lock (`lock: false`) refuses a root writable by others before it reads or renames anything in it', async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const first = transaction('leaves a reusable journal', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    expect((await first.run()).status).toBe('committed');
    // A reusable directory holding an unfinished journal would be renamed to its id by the look for unfinished ones.
    const id = '20261207T120000000Z-planted-abcdef';
    const lines = [
      { kind: 'begin', format: JOURNAL_FORMAT, id, name: 'planted', pid: 1, host: 'h', seq: 1, at: 1 },
      { kind: 'prepared', step: 0, type: 'test.noop', package: '@unwind/core/testing', description: 'd', args: {}, before: null, seq: 2, at: 2 },
    ];
    fs.rmSync(join(root, '.reusable'), { recursive: true, force: true });
    fs.mkdirSync(join(root, '.reusable'), { mode: 0o700 });
    fs.writeFileSync(join(root, '.reusable', 'journal.jsonl'), lines.map((line) => encodeLine(line as never)).join(''), { mode: 0o600 });
    fs.chmodSync(root, 0o757);
    const listed = fs.readdirSync(root).sort();
    const outcome = await transaction('unlocked', { journal: fileJournal({ root }), lock: false, handleSignals: false }).run();
    expect(outcome.status).toBe('refused');
    expect(outcome.status === 'refused' && outcome.cause.code).toBe('UNSAFE_DIRECTORY');
    expect(fs.readdirSync(root).sort()).toEqual(listed);
    expect(fileJournal({ root: join(sandbox.path, 'missing') }).unfinished!()).toEqual([]);
  });
});

describe('removeTransaction', () => {
  it('removes a journal without blobs, one with blobs, and refuses a symlink in a transaction directory\'s place', async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const ids: string[] = [];
    for (const name of ['plain', 'with blobs']) {
      const tj = fileJournal({ root, retention: 'keep' }).begin(name);
      if (name === 'with blobs') await tj.blobs(0).write('before', 'kept bytes');
      tj.close(false);
      ids.push(tj.id);
    }
    for (const id of ids) {
      removeTransaction(root, id);
      expect(fs.existsSync(join(root, id))).toBe(false);
    }
    const elsewhere = join(sandbox.path, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.writeFileSync(join(elsewhere, 'journal.jsonl'), 'not ours');
    fs.symlinkSync(elsewhere, join(root, ids[0]!));
    expect(() => removeTransaction(root, ids[0]!)).toThrow(UnsafeDirectoryError);
    expect(fs.readFileSync(join(elsewhere, 'journal.jsonl'), 'utf8')).toBe('not ours');
  });
});

/** The kinds of the records in the journal file of the only transaction under `root`, as a reader finds them on disk. */
function kindsOnDisk(root: string): string[] {
  const [id] = fs.readdirSync(root).filter((name) => /^\d{8}T/.test(name));
  return readJournalFile(join(root, id!, 'journal.jsonl')).records.map((record) => record.kind);
}

describe("fileJournal append 'with-next'", () => {
  it('holds the record until the next append, then writes both; afterAppend sees each once it is written', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const seen: string[] = [];
    const journal = fileJournal({ root, retention: 'keep', afterAppend: (record: JournalRecord) => seen.push(record.kind) }).begin('pairs');
    journal.append({ kind: 'prepared', step: 0, type: 'test.noop', package: 'test', description: 'nothing', args: {}, before: null }, true);
    const size = fs.statSync(journal.path!).size;
    journal.append({ kind: 'done', step: 0, after: null, attempts: 1 }, 'with-next');
    expect(fs.statSync(journal.path!).size).toBe(size);
    expect(seen).toEqual(['begin', 'prepared']);
    expect(journal.records.map((record) => record.kind)).toEqual(['begin', 'prepared', 'done']);
    journal.append({ kind: 'verified', step: 0 }, false);
    expect(seen).toEqual(['begin', 'prepared', 'done', 'verified']);
    expect(kindsOnDisk(root)).toEqual(['begin', 'prepared', 'done', 'verified']);
    journal.close(false);
  });

  it('a held record still goes to the file when the journal is closed', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const journal = fileJournal({ root, retention: 'keep' }).begin('held at close');
    journal.append({ kind: 'done', step: 0, after: null, attempts: 1 }, 'with-next');
    journal.close(false);
    expect(kindsOnDisk(root)).toEqual(['begin', 'done']);
  });
});

describe('the runner pairs done and verified only for a step without a check', () => {
  const checked = defineStep({
    type: 'test.checked', args: t.type({}), before: t.null,
    describe: () => 'checked', prepare: async () => null, do: async () => {}, verify: async () => {}, undo: async () => {},
  });

  it("without a check, the journal on disk has `verified` as soon as `done` is there; with one, `done` is written alone before the check runs", async () => {
    for (const [step, expected] of [
      [noopStep({}), ['begin', 'prepared', 'done', 'verified']],
      [checked({}), ['begin', 'prepared', 'done']],
    ] as const) {
      sandbox?.remove();
      sandbox = tempDir('unwind-file-journal-');
      const root = join(sandbox.path, 'journal');
      let atDone: string[] = [];
      const tx = transaction('pairs', { journal: fileJournal({ root, retention: 'keep' }), handleSignals: false, onEvent: (event) => {
        if (event.type === 'step:done') atDone = kindsOnDisk(root);
      } });
      tx.add(step);
      const outcome = await tx.run();
      expect(outcome.status).toBe('committed');
      expect(atDone).toEqual(expected);
      expect(kindsOnDisk(root)).toEqual(['begin', 'prepared', 'done', 'verified', 'commit-point', 'end']);
    }
  });
});

/** Runs `fn` while the next write of more than `over` bytes writes its first half, then fails with ENOSPC: a disk that filled up mid-record. */
function withFullDiskAfterHalf<T>(over: number, fn: () => T): T {
  let armed = true;
  const restore = replaceFsFunction('writeSync', (real) =>
    function (this: unknown, ...args: unknown[]) {
      const [fd, buffer, offset, length, position] = args as [number, Buffer, number, number, number];
      if (armed && Buffer.isBuffer(buffer) && length > over) {
        armed = false;
        real.call(this, fd, buffer, offset, Math.floor(length / 2), position);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return real.apply(this, args) as number;
    },
  );
  try {
    return fn();
  } finally {
    restore();
  }
}

// The file journal writes each record at its offset, over zeros it reserved ahead of them, so
// most syncs leave the file's size alone.
describe('the zeros a file journal reserves ahead of its records', () => {
  it('read as the end (neither torn nor counted), are reused by later records, and are cut off when a kept journal closes', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const journal = fileJournal({ root, retention: 'keep' }).begin('reserve');
    journal.append({ kind: 'prepared', step: 0, type: 'test.noop', package: 'test', description: 'nothing', args: {}, before: null }, true);
    const reserved = fs.statSync(journal.path!).size;
    expect(reserved).toBe(4096);
    const first = readJournalFile(journal.path!);
    expect(first).toMatchObject({ tornTail: false });
    expect(first.records.map((record) => record.kind)).toEqual(['begin', 'prepared']);
    expect(fs.readFileSync(journal.path!).subarray(first.validLength).every((byte) => byte === 0)).toBe(true);
    journal.append({ kind: 'done', step: 0, after: null, attempts: 1 }, true);
    expect(fs.statSync(journal.path!).size).toBe(reserved);
    journal.close(false);
    const closed = readJournalFile(journal.path!);
    expect(closed.records.map((record) => record.kind)).toEqual(['begin', 'prepared', 'done']);
    expect(fs.statSync(journal.path!).size).toBe(closed.validLength);
  });

  it('grow past their first block by doubling, and the records read back whole', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const journal = fileJournal({ root, retention: 'keep' }).begin('grow');
    const sizes = new Set<number>();
    for (let step = 0; step < 200; step++) {
      journal.append({ kind: 'prepared', step, type: 'test.noop', package: 'test', description: 'x'.repeat(100), args: {}, before: null }, true);
      sizes.add(fs.statSync(journal.path!).size);
    }
    expect([...sizes]).toEqual([4096, 8192, 16384, 32768, 65536]);
    const contents = readJournalFile(journal.path!);
    expect(contents.records).toHaveLength(201);
    expect(contents.tornTail).toBe(false);
    journal.close(false);
  });

  it('a record cut short by a full disk is zeroed in the reserve, which stays for the next records (the rollback\'s)', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const journal = fileJournal({ root, retention: 'keep' }).begin('full disk');
    journal.append({ kind: 'prepared', step: 0, type: 'test.noop', package: 'test', description: 'nothing', args: {}, before: null }, true);
    const before = readJournalFile(journal.path!);
    const size = fs.statSync(journal.path!).size;
    expect(() =>
      withFullDiskAfterHalf(1000, () => journal.append({ kind: 'prepared', step: 1, type: 'test.noop', package: 'test', description: 'y'.repeat(1500), args: {}, before: null }, true)),
    ).toThrow(/ENOSPC/);
    expect(journal.records.map((record) => record.kind)).toEqual(['begin', 'prepared']);
    expect(fs.statSync(journal.path!).size).toBe(size);
    const bytes = fs.readFileSync(journal.path!);
    expect(bytes.subarray(before.validLength).every((byte) => byte === 0)).toBe(true);
    journal.append({ kind: 'undone', step: 0, attempts: 1 }, true);
    expect(fs.statSync(journal.path!).size).toBe(size);
    expect(readJournalFile(journal.path!).records.map((record) => record.kind)).toEqual(['begin', 'prepared', 'undone']);
    journal.close(false);
  });
});

describe("a removed journal's directory, reused by the next transaction", () => {
  const run = async (root: string) => {
    const tx = transaction('small', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    tx.add(noopStep({}));
    return (await tx.run()).status;
  };

  it('is taken over (same inode), written as format 2 over the earlier records, and handed on again', async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    expect(await run(root)).toBe('committed');
    const inode = fs.statSync(join(root, '.reusable')).ino;
    const earlier = fs.readFileSync(join(root, '.reusable', 'journal.jsonl'));
    const journal = fileJournal({ root, retention: 'remove' }).begin('second');
    expect(fs.statSync(join(root, journal.id)).ino).toBe(inode);
    expect(fs.existsSync(join(root, '.reusable'))).toBe(false);
    const path = join(root, journal.id, 'journal.jsonl');
    // Until its first synced record the file is the earlier journal's, untouched: the begin is held.
    expect(fs.readFileSync(path)).toEqual(earlier);
    expect(readJournalFile(path).records.at(-1)?.kind).toBe('end');
    journal.append({ kind: 'prepared', step: 0, type: 'test.noop', package: '@unwind/core/testing', description: 'noop', args: {}, before: null }, true);
    const contents = readJournalFile(path);
    expect(contents.records.map((r) => [r.kind, r.kind === 'begin' ? r.format : undefined])).toEqual([['begin', 2], ['prepared', undefined]]);
    // Those records replaced the first sector, zeros to its end; the earlier records past it are still there.
    let bytes = fs.readFileSync(path);
    const recordsEnd = bytes.indexOf(0);
    expect(recordsEnd).toBeGreaterThan(0);
    expect(bytes.subarray(recordsEnd, 512).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(512, earlier.indexOf(0))).toEqual(earlier.subarray(512, earlier.indexOf(0)));
    expect(contents).toMatchObject({ tornTail: false, strayBytes: true }); // no torn record: the earlier journal's lines, cut before a writer appends
    // A crash here leaves that file: reopened for recovery, the earlier lines are cut off before anything is appended.
    const crashed = bytes;
    const reopened = reopenTransactionJournal(root, journal.id);
    expect(fs.statSync(path).size).toBe(recordsEnd);
    // A record long enough to reach past the first sector, over where the earlier lines were.
    reopened.append({ kind: 'prepared', step: 1, type: 'test.noop', package: '@unwind/core/testing', description: 'x'.repeat(400), args: {}, before: null }, true);
    reopened.close(false);
    expect(readJournalFile(path)).toMatchObject({ tornTail: false, records: [{ kind: 'begin' }, { kind: 'prepared' }, { kind: 'prepared', step: 1 }] });
    fs.writeFileSync(path, crashed);
    // The records after them are held up to the next synced one, whose write covers the earlier records with zeros.
    journal.append({ kind: 'done', step: 0, after: null, attempts: 1 }, false);
    expect(fs.readFileSync(path)).toEqual(bytes);
    journal.append({ kind: 'prepared', step: 1, type: 'test.noop', package: '@unwind/core/testing', description: 'noop', args: {}, before: null }, true);
    bytes = fs.readFileSync(path);
    const end = bytes.indexOf(0);
    expect(end).toBeGreaterThan(512);
    expect(bytes.subarray(end).every((b) => b === 0)).toBe(true);
    expect(readJournalFile(path)).toMatchObject({ tornTail: false, records: [{ kind: 'begin' }, { kind: 'prepared' }, { kind: 'done' }, { kind: 'prepared' }] });
    journal.close(false);
  });

  it('a .reusable that is a symlink, or holds anything but the journal file, is never used: removed, its target untouched', async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const elsewhere = join(sandbox.path, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.writeFileSync(join(elsewhere, 'journal.jsonl'), 'precious\n');
    fs.mkdirSync(root, { mode: 0o700 });
    fs.symlinkSync(elsewhere, join(root, '.reusable'));
    expect(await run(root)).toBe('committed');
    expect(fs.readFileSync(join(elsewhere, 'journal.jsonl'), 'utf8')).toBe('precious\n');
    // The symlink went, and the finished transaction's own directory took its place.
    expect(fs.lstatSync(join(root, '.reusable')).isDirectory()).toBe(true);
    fs.writeFileSync(join(root, '.reusable', 'extra'), 'x');
    const journal = fileJournal({ root, retention: 'remove' }).begin('third');
    expect(fs.readdirSync(join(root, journal.id))).toEqual(['journal.jsonl']);
    expect(fs.existsSync(join(root, '.reusable'))).toBe(false);
    journal.close(false);
  });

  it('one this process has taken over before, found holding only its journal, is checked again once anything was made in it', async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    // The second and third runs take the directory over; the third skips the listing the second made.
    for (let i = 0; i < 3; i++) expect(await run(root)).toBe('committed');
    const inode = fs.statSync(join(root, '.reusable')).ino;
    fs.mkdirSync(join(root, '.reusable', 'blobs'));
    fs.writeFileSync(join(root, '.reusable', 'blobs', 'stale'), 'x');
    const journal = fileJournal({ root, retention: 'remove' }).begin('after the change');
    expect(fs.statSync(join(root, journal.id)).ino).not.toBe(inode); // a new directory
    expect(fs.readdirSync(join(root, journal.id))).toEqual(['journal.jsonl']);
    expect(fs.existsSync(join(root, '.reusable'))).toBe(false); // the changed one was removed
    journal.close(false);
  });

  it('one this process has taken over before is checked again once a file was made in it (the same link count)', async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    for (let i = 0; i < 3; i++) expect(await run(root)).toBe('committed');
    const again = fs.statSync(join(root, '.reusable')).ino;
    fs.writeFileSync(join(root, '.reusable', 'extra'), 'x');
    const next = fileJournal({ root, retention: 'remove' }).begin('after the file');
    expect(fs.statSync(join(root, next.id)).ino).not.toBe(again);
    expect(fs.readdirSync(join(root, next.id))).toEqual(['journal.jsonl']);
    next.close(false);
  });
});

describe('a reused journal whose new name a power cut lost (retention remove never syncs it)', () => {
  /**
   * A first transaction hands its directory on; a second takes it over, prepares a step
   * (synced) and does it; then the power cut: the takeover's rename, never synced, is lost,
   * so its records are under `.reusable` again, or under the first transaction's id.
   */
  async function stranded(under: 'reusable' | 'earlier') {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const marker = join(sandbox.path, 'marker');
    const first = transaction('first', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    first.add(noopStep({}));
    const firstOutcome = await first.run();
    expect(firstOutcome.status).toBe('committed');
    const journal = fileJournal({ root, retention: 'remove' }).begin('second');
    journal.append({ kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core/testing', description: 'write the marker', args: { path: marker, content: 'new\n' }, before: { existed: false } }, true);
    fs.writeFileSync(marker, 'new\n');
    journal.close(false);
    const name = under === 'reusable' ? '.reusable' : firstOutcome.transactionId!;
    fs.renameSync(join(root, journal.id), join(root, name));
    return { root, marker, id: journal.id, name };
  }

  it('under .reusable: listed under its id, never zeroed by the next transaction, and rolled back by recover()', async () => {
    const { root, marker, id } = await stranded('reusable');
    expect(listTransactions(root).map((t) => [t.id, t.state?.recovery])).toEqual([[id, 'roll back']]);
    // The next transaction's lock gives it its name back before anything lists or reuses: it refuses to start on top of it.
    const next = transaction('next', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    next.add(noopStep({}));
    const outcome = await next.run();
    expect(outcome.status).toBe('refused');
    expect(fs.existsSync(join(root, '.reusable'))).toBe(false);
    expect(readJournalFile(join(root, id, 'journal.jsonl')).records.map((r) => r.kind)).toEqual(['begin', 'prepared']);
    const report = await recover({ root, kinds: testKinds });
    expect(report.transactions.map((t) => [t.id, t.result])).toEqual([[id, 'rolled-back']]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('under .reusable, found by recover() alone', async () => {
    const { root, marker, id } = await stranded('reusable');
    const report = await recover({ root, kinds: testKinds });
    expect(report.transactions.map((t) => [t.id, t.result])).toEqual([[id, 'rolled-back']]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("under the earlier transaction's id: listed there, given its own id back by recover() and rolled back", async () => {
    const { root, marker, id, name } = await stranded('earlier');
    expect(listTransactions(root).map((t) => [t.id, t.state?.name, t.state?.recovery])).toEqual([[name, 'second', 'roll back']]);
    const report = await recover({ root, kinds: testKinds });
    expect(report.transactions.map((t) => [t.id, t.result])).toEqual([[id, 'rolled-back']]);
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync(join(root, name))).toBe(false);
  });

  it("a finished one under the earlier transaction's id: given its own id back by recover(), kept as history", async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const first = transaction('first', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    first.add(noopStep({}));
    const firstOutcome = await first.run();
    expect(firstOutcome.status).toBe('committed');
    // Kept, so it stays where it is; then moved to where a lost takeover rename would leave it.
    const second = transaction('second', { journal: fileJournal({ root, retention: 'keep' }), handleSignals: false });
    second.add(noopStep({}));
    const secondOutcome = await second.run();
    expect(secondOutcome.status).toBe('committed');
    const id = secondOutcome.transactionId!;
    const name = firstOutcome.transactionId!;
    expect(readJournalFile(join(root, id, 'journal.jsonl')).records[0]).toMatchObject({ kind: 'begin', id, format: 2 });
    fs.renameSync(join(root, id), join(root, name));
    expect(listTransactions(root).map((t) => [t.id, t.state?.name, t.state?.ended])).toEqual([[name, 'second', 'committed']]);
    const report = await recover({ root, kinds: testKinds });
    expect(report.transactions.map((t) => [t.id, t.result])).toEqual([[id, 'already-finished']]);
    expect(fs.existsSync(join(root, name))).toBe(false);
    expect(listTransactions(root).map((t) => [t.id, t.state?.name, t.state?.ended])).toEqual([[id, 'second', 'committed']]);
  });

  it('under .reusable, recovered by recover() given its id', async () => {
    const { root, marker, id } = await stranded('reusable');
    const report = await recover({ root, kinds: testKinds, transactionId: id });
    expect(report.transactions.map((t) => [t.id, t.result])).toEqual([[id, 'rolled-back']]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("a journal of a new file (format 1) under another transaction's id is still refused, untouched", async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const marker = join(sandbox.path, 'marker');
    const journal = fileJournal({ root, retention: 'keep' }).begin('moved');
    journal.append({ kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core/testing', description: 'write the marker', args: { path: marker, content: 'new\n' }, before: { existed: false } }, true);
    fs.writeFileSync(marker, 'new\n');
    journal.close(false);
    const other = '20261205T000000000Z-other-abcdef';
    fs.renameSync(join(root, journal.id), join(root, other));
    const report = await recover({ root, kinds: testKinds });
    expect(report.transactions.map((t) => [t.id, t.result, t.error?.name])).toEqual([[other, 'error', 'UntrustedJournalError']]);
    expect(fs.readFileSync(marker, 'utf8')).toBe('new\n');
    expect(fs.existsSync(join(root, journal.id))).toBe(false);
  });

  it('a .reusable journal nobody can read is shown, kept as it is under a transaction id, and never reused', async () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    fs.mkdirSync(join(root, '.reusable'), { recursive: true, mode: 0o700 });
    fs.chmodSync(root, 0o700);
    fs.writeFileSync(join(root, '.reusable', 'journal.jsonl'), 'not a journal\n', { mode: 0o600 });
    const listed = listTransactions(root);
    expect(listed.map((t) => [t.id, t.error?.name])).toEqual([['.reusable', 'JournalCorruptError']]);
    const next = transaction('next', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    next.add(noopStep({}));
    expect((await next.run()).status).toBe('refused');
    const ids = fs.readdirSync(root).filter((name) => name !== 'unwind.lock');
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatch(/^\d{8}T\d{9}Z-reused-journal-[0-9a-f]{6}$/);
    expect(fs.readFileSync(join(root, ids[0]!, 'journal.jsonl'), 'utf8')).toBe('not a journal\n');
  });
});
