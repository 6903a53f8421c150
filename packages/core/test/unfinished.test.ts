import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exitCodeOf, fileJournal, listTransactionIds, packageOf, transaction } from '@unwind/core';
import { failingStep, writeMarker } from '@unwind/core/testing';
import { tempDir } from './helpers.js';

// A new run never starts on top of an unfinished transaction, unless asked to recover it first.

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox() {
  const base = tempDir('unwind-unfinished-');
  cleanups.push(base.remove);
  return { root: join(base.path, 'journal'), dir: base.path };
}

/** A transaction that crashed after its `prepared` record: what a SIGKILL in `do` leaves. */
function crashedTransaction(root: string, path: string): string {
  const journal = fileJournal({ root }).begin('crashed install');
  const args = { path, content: 'new' };
  const definition = writeMarker.definition;
  journal.append({ kind: 'prepared', step: 0, type: writeMarker.type, package: packageOf(definition), description: `write ${path}`, args: definition.args.encode(args), before: definition.before.encode({ existed: false }) }, true);
  fs.writeFileSync(path, 'ne'); // the half-written file the crash left
  return journal.id; // never closed: the process "died"
}

describe('a run on a root with an unfinished transaction', () => {
  it('is refused (exit 5) naming the transaction and the recover command; nothing is touched', async () => {
    const { root, dir } = sandbox();
    const stuck = transaction('stuck', { journal: fileJournal({ root }), handleSignals: false, retry: { undo: { retries: 0 } } });
    stuck.add(writeMarker({ path: join(dir, 'a'), content: 'A', failIn: 'undo' }));
    stuck.add(failingStep({ message: 'force a rollback' }));
    const first = await stuck.run();
    expect(first.status).toBe('rollback-failed');
    const [stuckId] = listTransactionIds(root);

    const next = transaction('next', { journal: fileJournal({ root }), handleSignals: false });
    next.add(writeMarker({ path: join(dir, 'b'), content: 'B' }));
    const outcome = await next.run();
    expect(outcome.status).toBe('refused');
    if (outcome.status !== 'refused') return;
    expect(outcome.cause.code).toBe('UNFINISHED_TRANSACTION');
    expect(outcome.cause.message).toContain(stuckId);
    expect(outcome.cause.message).toContain(`unwind recover --root ${root}`);
    expect(exitCodeOf(outcome)).toBe(5);
    expect(fs.existsSync(join(dir, 'b'))).toBe(false);
    expect(listTransactionIds(root)).toEqual([stuckId]); // no new journal either
  });

  it('with recoverFirst, recovers it under the same lock, then runs', async () => {
    const { root, dir } = sandbox();
    const crashedId = crashedTransaction(root, join(dir, 'a'));
    const next = transaction('next', { journal: fileJournal({ root }), handleSignals: false, recoverFirst: true });
    next.add(writeMarker({ path: join(dir, 'b'), content: 'B' }));
    const outcome = await next.run();
    expect(outcome.status).toBe('committed');
    expect(outcome.recovered?.map((t) => [t.id, t.result])).toEqual([[crashedId, 'rolled-back']]);
    expect(fs.existsSync(join(dir, 'a'))).toBe(false); // the crashed step was undone
    expect(fs.readFileSync(join(dir, 'b'), 'utf8')).toBe('B');
  });

  it('with recoverFirst, is still refused when recovery does not finish (a kind it does not know), and touches nothing', async () => {
    const { root, dir } = sandbox();
    const crashedId = crashedTransaction(root, join(dir, 'a'));
    const next = transaction('next', { journal: fileJournal({ root }), handleSignals: false, recoverFirst: true });
    next.add(failingStep({ message: 'never reached' })); // writeMarker is not among this run's kinds
    const outcome = await next.run();
    expect(outcome.status).toBe('refused');
    if (outcome.status !== 'refused') return;
    expect(outcome.cause.code).toBe('UNFINISHED_TRANSACTION');
    expect(outcome.cause.message).toMatch(/recovery did not finish/);
    expect(outcome.cause.message).toContain('test.writeMarker');
    expect(fs.readFileSync(join(dir, 'a'), 'utf8')).toBe('ne');
    expect(listTransactionIds(root)).toEqual([crashedId]);

    // The `kinds` option supplies what an older journal needs.
    const again = transaction('again', { journal: fileJournal({ root }), handleSignals: false, recoverFirst: true, kinds: [writeMarker] });
    again.add(failingStep({ message: 'roll back this one' }));
    const second = await again.run();
    expect(second.status).toBe('rolled-back');
    expect(second.recovered?.[0]?.result).toBe('rolled-back');
    expect(fs.existsSync(join(dir, 'a'))).toBe(false);
  });
});

// Whether a kept journal is finished is remembered by its file's identity (device, inode, size,
// change time), so every transaction does not read every kept journal twice. A journal that
// changes after it was found finished is read again.
describe('a kept journal found finished, then changed', () => {
  async function keptJournal(root: string): Promise<{ id: string; path: string }> {
    const tx = transaction('kept', { journal: fileJournal({ root, retention: 'keep' }), handleSignals: false });
    tx.add(writeMarker({ path: join(root, '..', 'marker'), content: 'x' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    const [id] = listTransactionIds(root);
    return { id: id!, path: join(root, id!, 'journal.jsonl') };
  }

  it('counts as unfinished once its end record is cut off (same inode, smaller)', async () => {
    const { root } = sandbox();
    const { id, path } = await keptJournal(root);
    expect(fileJournal({ root }).unfinished!()).toEqual([]);
    const text = fs.readFileSync(path, 'utf8');
    fs.truncateSync(path, text.lastIndexOf('\n', text.length - 2) + 1);
    expect(fileJournal({ root }).unfinished!()).toEqual([id]);
  });

  it('counts as unfinished once its end record is overwritten in place with bytes of the same length', async () => {
    const { root } = sandbox();
    const { id, path } = await keptJournal(root);
    expect(fileJournal({ root }).unfinished!()).toEqual([]);
    const before = fs.statSync(path, { bigint: true });
    const text = fs.readFileSync(path, 'utf8');
    const start = text.lastIndexOf('\n', text.length - 2) + 1;
    // The kernel stamps change times from a coarse clock: wait until a write gets a new one.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const fd = fs.openSync(path, 'r+');
    fs.writeSync(fd, 'x'.repeat(text.length - 1 - start), start);
    fs.closeSync(fd);
    const after = fs.statSync(path, { bigint: true });
    expect(after.size).toBe(before.size);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);
    expect(fileJournal({ root }).unfinished!()).toEqual([id]);
  });
});
