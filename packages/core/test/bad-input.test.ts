import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireLock, encodeLine, fileJournal, readLock, JournalCorruptError, listTransactions, recover, transaction, exitCodeOf, exitCodeOfRecovery,
  UnknownStepTypeError, UnsupportedJournalFormatError, readJournalFile, type JournalRecord,
} from '@unwind/core';
import { testKinds, treeState, writeMarker } from '@unwind/core/testing';
import { runChild, tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** Leaves an unfinished transaction behind by killing a child after record 6 (two steps prepared). */
async function leftBehind() {
  const base = tempDir();
  cleanups.push(base.remove);
  const dir = join(base.path, 'sandbox');
  fs.mkdirSync(join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(join(dir, 'a.conf'), 'old a\n');
  fs.writeFileSync(join(dir, 'old.log'), 'log\n');
  const root = join(base.path, 'journal');
  const result = await runChild(join(import.meta.dirname, 'fixtures', 'crash-child.ts'), [JSON.stringify({ root, dir, killAtRecord: 6 })]);
  expect(result.signal).toBe('SIGKILL');
  const [listing] = listTransactions(root);
  return { root, dir, journalPath: listing!.path, id: listing!.id };
}

function rewriteLine(path: string, index: number, edit: (record: JournalRecord) => JournalRecord | string) {
  const lines = fs.readFileSync(path, 'utf8').split('\n');
  const record = JSON.parse(lines[index]!.slice(9)) as JournalRecord;
  const edited = edit(record);
  lines[index] = typeof edited === 'string' ? edited : encodeLine(edited).trimEnd();
  fs.writeFileSync(path, lines.join('\n'));
}

async function expectUntouched(left: { root: string; dir: string; journalPath: string }, expected: RegExp | string) {
  const bytes = fs.readFileSync(left.journalPath);
  const sandbox = treeState(left.dir);
  const report = await recover({ root: left.root, kinds: testKinds });
  expect(report.ok).toBe(false);
  expect(report.transactions[0]?.result).toBe('error');
  expect(report.transactions[0]?.error?.message).toMatch(expected);
  expect(fs.readFileSync(left.journalPath)).toEqual(bytes);
  expect(treeState(left.dir)).toEqual(sandbox);
  return report.transactions[0]!.error!;
}

describe('bad journals are refused with nothing touched', () => {
  it('a corrupted line in the middle: refused, naming the line', async () => {
    const left = await leftBehind();
    const lines = fs.readFileSync(left.journalPath, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"kind":"', '"kind":"x');
    fs.writeFileSync(left.journalPath, lines.join('\n'));
    const error = await expectUntouched(left, /line 3: checksum mismatch/);
    expect(error.name).toBe('JournalCorruptError');
  });

  it('a torn last line is ignored (never acknowledged) and cut off before recovery appends', async () => {
    const left = await leftBehind();
    fs.appendFileSync(left.journalPath, '1234abcd {"seq":7,"kind":"do');
    expect(readJournalFile(left.journalPath).tornTail).toBe(true);
    const report = await recover({ root: left.root, kinds: testKinds });
    expect(report.ok).toBe(true);
    expect(report.transactions[0]?.result).toBe('rolled-back');
  });

  it('a gap in the sequence is corruption', async () => {
    const left = await leftBehind();
    rewriteLine(left.journalPath, 3, (r) => ({ ...r, seq: 9 }));
    await expectUntouched(left, /line 4: sequence number 9 where 4 was expected/);
  });

  it('a journal from an unknown format version', async () => {
    const left = await leftBehind();
    rewriteLine(left.journalPath, 0, (r) => ({ ...r, format: 99 }) as JournalRecord);
    const error = await expectUntouched(left, /has format 99; this version of @unwind\/core reads formats 1 and 2/);
    expect(error.name).toBe(UnsupportedJournalFormatError.name);
  });

  it('an unknown step type is named with the package that provides it', async () => {
    const left = await leftBehind();
    rewriteLine(left.journalPath, 1, (r) => ({ ...r, type: 'files.writeFile', package: '@unwind/files' }) as JournalRecord);
    const error = await expectUntouched(left, /step type "files.writeFile" is unknown here .*register the step kinds of @unwind\/files/);
    expect(error.name).toBe(UnknownStepTypeError.name);
  });

  it('a journaled value that does not decode with its codec', async () => {
    const left = await leftBehind();
    rewriteLine(left.journalPath, 1, (r) => ({ ...r, before: { existed: 'maybe' } }) as JournalRecord);
    await expectUntouched(left, /test.writeMarker before-state of step 1 does not decode/);
  });

  it('a step record without a step index, or a second prepared for one step: refused', async () => {
    const left = await leftBehind();
    // Line 2 is step 1's `prepared`, line 3 its `done`.
    rewriteLine(left.journalPath, 2, (r) => {
      const { step: _step, ...rest } = r as JournalRecord & { step: number };
      return rest as JournalRecord;
    });
    await expectUntouched(left, /record 3 names step undefined, not a step index/);
    const again = await leftBehind();
    const prepared = JSON.parse(fs.readFileSync(again.journalPath, 'utf8').split('\n')[1]!.slice(9)) as JournalRecord;
    rewriteLine(again.journalPath, 2, (r) => ({ ...prepared, args: { ...(prepared as { args: object }).args, content: 'other' }, seq: r.seq, at: r.at }) as JournalRecord);
    await expectUntouched(again, /record 3 prepares step 1 a second time/);
  });

  it('a journal file that is a FIFO, a symlink, or larger than a journal may be: refused typed, never read', async () => {
    const left = await leftBehind();
    const saved = `${left.journalPath}.saved`;
    fs.renameSync(left.journalPath, saved);
    for (const plant of [
      () => spawnSync('mkfifo', [left.journalPath]),
      () => fs.symlinkSync(saved, left.journalPath),
      () => {
        fs.writeFileSync(left.journalPath, '', { mode: 0o600 });
        fs.truncateSync(left.journalPath, 600 * 1024 * 1024); // sparse: nothing is written
      },
    ]) {
      plant();
      const report = await recover({ root: left.root, kinds: testKinds });
      expect(report.ok).toBe(false);
      expect(report.transactions[0]?.error?.code).toBe('UNTRUSTED_JOURNAL');
      expect(report.transactions[0]?.error?.message).toMatch(/never read/);
      fs.rmSync(left.journalPath);
    }
  });

  it('a begin record whose id is not a string, left in the reusable directory: the root still locks, recovery refuses it typed', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const root = join(base.path, 'journal');
    const reusable = join(root, '.reusable');
    fs.mkdirSync(reusable, { recursive: true, mode: 0o700 });
    const id = '20261206T120000000Z-planted-abcdef';
    const records = [
      { kind: 'begin', format: 1, id: [id], name: 'planted', pid: 1, host: 'h', seq: 1, at: 1 },
      { kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core', description: 'x', args: {}, before: {}, seq: 2, at: 2 },
    ] as unknown as JournalRecord[];
    fs.writeFileSync(join(reusable, 'journal.jsonl'), records.map((r) => encodeLine(r)).join(''), { mode: 0o600 });
    const lock = fileJournal({ root }).lock('test');
    lock.release();
    const report = await recover({ root, kinds: testKinds });
    expect(report.transactions).toHaveLength(1);
    expect(report.transactions[0]?.error?.name).toBe('JournalCorruptError');
    expect(report.transactions[0]?.error?.message).toMatch(/the begin record has no id/);
  });

  it('a lock file holding null or a number is a dead holder\'s: taken over, never a TypeError', () => {
    const base = tempDir();
    cleanups.push(base.remove);
    for (const content of ['null', '42', '"x"', '{"pid":"1"}']) {
      fs.writeFileSync(join(base.path, 'unwind.lock'), content);
      expect(readLock(base.path)).toMatchObject({ processStart: 'torn', alive: false });
      const lock = acquireLock(base.path);
      expect(lock.tookOverFrom?.processStart).toBe('torn');
      lock.release();
    }
  });

  it('JournalCorruptError and friends are typed classes', () => {
    expect(new JournalCorruptError('/x', 3, 'bad').code).toBe('JOURNAL_CORRUPT');
  });
});

describe('bad input to a transaction: refused before anything is touched', () => {
  it('a step with an invalid codec payload is refused with every problem named', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const root = join(base.path, 'journal');
    const tx = transaction('bad args', { journal: fileJournal({ root }), handleSignals: false });
    tx.add(writeMarker({ path: join(base.path, 'a'), content: 'a' }));
    tx.add(writeMarker({ path: join(base.path, 'b'), content: 5 } as never));
    const outcome = await tx.run();
    expect(outcome.status).toBe('refused');
    expect(exitCodeOf(outcome)).toBe(4);
    if (outcome.status === 'refused') expect(outcome.cause.message).toMatch(/step 2 \(test.writeMarker\) has invalid arguments: .*content/);
    expect(fs.existsSync(join(base.path, 'a'))).toBe(false);
    expect(fs.existsSync(root)).toBe(false);
  });

  it('a timeout no Node timer can keep (over 2^31-1 ms: it would fire at once) is refused before anything is touched, for the transaction or one step', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const root = join(base.path, 'journal');
    for (const [options, stepOptions, named] of [[{ timeoutMs: 3e9 }, {}, /the transaction's timeoutMs/], [{}, { timeoutMs: 1e10 }, /step 1 \(test.writeMarker\)'s timeoutMs/], [{ abortGraceMs: -1 }, {}, /abortGraceMs/]] as const) {
      const tx = transaction('bad timer', { journal: fileJournal({ root }), handleSignals: false, ...options });
      tx.add(writeMarker({ path: join(base.path, 'a'), content: 'a' }, stepOptions));
      const outcome = await tx.run();
      expect(outcome.status).toBe('refused');
      if (outcome.status === 'refused') expect(outcome.cause).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(named) });
      expect(fs.existsSync(join(base.path, 'a'))).toBe(false);
    }
  });

  it('a held lock: refused with exit code 3, the holder named, nothing touched', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const root = join(base.path, 'journal');
    fs.mkdirSync(root);
    const lock = acquireLock(root, { purpose: 'another run' });
    cleanups.push(() => lock.release());
    const tx = transaction('second', { journal: fileJournal({ root }), handleSignals: false });
    tx.add(writeMarker({ path: join(base.path, 'a'), content: 'a' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('refused');
    expect(exitCodeOf(outcome)).toBe(3);
    if (outcome.status === 'refused') expect(outcome.cause.message).toContain(`pid ${process.pid}`);
    expect(fs.existsSync(join(base.path, 'a'))).toBe(false);
    const report = await recover({ root, kinds: testKinds });
    expect(report).toMatchObject({ ok: false, transactions: [], refused: { code: 'LOCK_HELD' }, holder: { pid: process.pid, purpose: 'another run' } });
    expect(report.refused?.message).toContain(`is held by pid ${process.pid}`);
    expect(exitCodeOfRecovery(report)).toBe(3);
  });

  it('a transaction without a name or a journal is a clear error', () => {
    expect(() => transaction('', { journal: fileJournal({ root: '/tmp/x' }) })).toThrow(/needs a name/);
    expect(() => transaction('x', {} as never)).toThrow(/needs a journal/);
  });

  it('recover() with a malformed transaction id is refused', async () => {
    const report = await recover({ root: '/tmp', kinds: testKinds, transactionId: '../etc' });
    expect(report).toMatchObject({ ok: false, transactions: [], refused: { code: 'INVALID_INPUT', message: expect.stringMatching(/is not a transaction id/) } });
    expect(exitCodeOfRecovery(report)).toBe(4);
  });
});
