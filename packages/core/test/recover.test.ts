import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { afterEach, describe, expect, it } from 'vitest';
import { defineStep, exitCodeOfRecovery, fileJournal, listTransactions, recover, transaction } from '@unwind/core';
import { testKinds, writeMarker } from '@unwind/core/testing';
import { runChild, tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('recover() and retention', () => {
  it('two recoveries at once: one runs, the other is refused on the lock; nothing is undone twice', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const dir = join(base.path, 'sandbox');
    fs.mkdirSync(join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(join(dir, 'a.conf'), 'old a\n');
    fs.writeFileSync(join(dir, 'old.log'), 'log\n');
    const root = join(base.path, 'journal');
    await runChild(join(import.meta.dirname, 'fixtures', 'crash-child.ts'), [JSON.stringify({ root, dir, killAtRecord: 8 })]);
    const reports = await Promise.all([recover({ root, kinds: testKinds }), recover({ root, kinds: testKinds })]);
    const refused = reports.filter((r) => r.refused !== undefined);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ ok: false, transactions: [], refused: { code: 'LOCK_HELD' }, holder: { pid: process.pid, purpose: 'recover' } });
    expect(exitCodeOfRecovery(refused[0]!)).toBe(3);
    expect(reports.find((r) => r.refused === undefined)).toMatchObject({ ok: true, transactions: [{ result: 'rolled-back' }] });
    expect(fs.readFileSync(join(dir, 'a.conf'), 'utf8')).toBe('old a\n');
    const undone = listTransactions(root)[0]!.state!.records.filter((r) => r.kind === 'undone');
    expect(new Set(undone.map((r) => (r as { step: number }).step)).size).toBe(undone.length);
  });

  it('a commit action that keeps failing leaves the journal open; recover() finishes it', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const root = join(base.path, 'journal');
    const flag = join(base.path, 'commit-may-succeed');
    const cleanupStep = defineStep({
      type: 'test.cleanup', args: t.type({ flag: t.string, target: t.string }), before: t.null,
      describe: () => 'clean up', prepare: async () => null, do: async () => {}, undo: async () => {},
      commit: async (a) => {
        if (!fs.existsSync(a.flag)) throw new Error('not yet');
        fs.writeFileSync(a.target, 'cleaned');
      },
    });
    const tx = transaction('commit pending', { journal: fileJournal({ root }), handleSignals: false, retry: { commit: { retries: 1, minTimeout: 1 } } });
    tx.add(cleanupStep({ flag, target: join(base.path, 'cleaned') }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    if (outcome.status === 'committed') expect(outcome.pendingCommits).toEqual([0]);
    expect(listTransactions(root)[0]?.state?.recovery).toBe('finish commit actions');
    fs.writeFileSync(flag, '');
    const report = await recover({ root, kinds: [cleanupStep] });
    expect(report.transactions[0]?.result).toBe('committed');
    expect(fs.readFileSync(join(base.path, 'cleaned'), 'utf8')).toBe('cleaned');
  });

  it('retention { keepLast } keeps the newest finished journals and never an unfinished one', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const root = join(base.path, 'journal');
    for (let i = 0; i < 4; i++) {
      const tx = transaction(`run ${i}`, { journal: fileJournal({ root, retention: { keepLast: 2 } }), handleSignals: false });
      tx.add(writeMarker({ path: join(base.path, `f${i}`), content: 'x' }));
      await tx.run();
      await new Promise((r) => setTimeout(r, 2)); // ids sort by millisecond
    }
    expect(listTransactions(root).map((l) => l.state?.name)).toEqual(['run 2', 'run 3']);
    const keep = transaction('kept', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    keep.add(writeMarker({ path: join(base.path, 'g'), content: 'x' }));
    await keep.run();
    expect(listTransactions(root)).toHaveLength(2);
  });

  it('recover() of a transaction id that does not exist is an error, not a success', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const report = await recover({ root: base.path, kinds: testKinds, transactionId: '20261122T000000000Z-x-abcdef' });
    expect(report).toMatchObject({ ok: false, transactions: [], refused: { code: 'INVALID_INPUT', message: expect.stringMatching(/there is no transaction/) } });
    expect(exitCodeOfRecovery(report)).toBe(4);
  });

  it('a finished transaction needs none of its step kinds registered', async () => {
    const base = tempDir();
    cleanups.push(base.remove);
    const root = join(base.path, 'journal');
    const tx = transaction('finished', { journal: fileJournal({ root, retention: 'keep' }), handleSignals: false });
    tx.add(writeMarker({ path: join(base.path, 'a'), content: 'a' }));
    expect((await tx.run()).status).toBe('committed');
    const report = await recover({ root, kinds: [] });
    expect(report).toMatchObject({ ok: true, transactions: [{ result: 'already-finished' }] });
  });

  it('recover() on a root that does not exist finds nothing', async () => {
    expect(await recover({ root: '/nonexistent/unwind-root', kinds: testKinds })).toEqual({ transactions: [], ok: true, cleanupErrors: [] });
  });
});
