import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { afterEach, describe, expect, it } from 'vitest';
import { defineStep, fileJournal, memoryJournal, recover, transaction } from '@unwind/core';
import { failingStep, treeState } from '@unwind/core/testing';
import { snapshot, kinds as snapshotKinds } from '@unwind/snapshots';
import { filesSandbox, type FilesSandbox } from './files-sandbox.js';

// Undo is compare-and-swap for a snapshotted tree too. The snapshot step
// records what the transaction left when its rollback starts (before any
// undo acts); its undo restores only what is still as the transaction left
// it. A file someone else edits, creates, deletes or chmods after that —
// while the rollback runs, or while an interrupted rollback waits for
// `recover` — is left exactly as they made it and reported as an
// UndoConflictError (rollback-failed); everything else is restored. Each
// case also checks that nothing outside the sandbox changed.

let sb: FilesSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

/** Arbitrary writes into the tree with no undo of their own: what a snapshot exists for. */
const scribble = defineStep({
  type: 'security.scribble',
  package: '@unwind/security-tests',
  args: t.type({ dir: t.string }),
  before: t.null,
  describe: (a) => `scribble in ${a.dir}`,
  prepare: async () => null,
  do: async (a) => {
    fs.writeFileSync(join(a.dir, 'a'), 'written by the transaction\n');
    fs.writeFileSync(join(a.dir, 'made-by-tx'), 'new\n');
    fs.rmSync(join(a.dir, 'e'));
  },
  undo: async () => {},
});

/** A step whose undo fails while its token file exists: a rollback interrupted half-way. */
const undoFailsWhileToken = defineStep({
  type: 'security.undoFailsWhileToken',
  package: '@unwind/security-tests',
  args: t.type({ token: t.string }),
  before: t.null,
  describe: () => 'undo fails while the token exists',
  prepare: async () => null,
  do: async () => {},
  undo: async (a) => {
    if (fs.existsSync(a.token)) throw new Error('undo interrupted (token present)');
  },
  retry: { undo: { retries: 0 } },
});

function setup() {
  sb = filesSandbox();
  const s = sb;
  for (const name of ['a', 'b', 'c', 'd', 'e']) fs.writeFileSync(join(s.dir, name), `${name} as it was\n`, { mode: 0o644 });
  fs.chmodSync(join(s.dir, 'd'), 0o644);
  fs.mkdirSync(join(s.dir, 'sub'));
  fs.writeFileSync(join(s.dir, 'sub', 'f'), 'f as it was\n');
  return s;
}

/** What "someone else" does to the tree after the rollback started: edit, create, delete, chmod. */
function othersChange(dir: string): void {
  fs.writeFileSync(join(dir, 'b'), 'an admin edit, during the rollback\n');
  fs.writeFileSync(join(dir, 'sub', 'admin-new'), 'a file an admin made\n');
  fs.rmSync(join(dir, 'c'));
  fs.chmodSync(join(dir, 'd'), 0o600);
}

/** The tree a correct rollback leaves: the transaction's changes undone, the others' kept. */
function expectRestoredAroundOthers(dir: string): void {
  expect(fs.readFileSync(join(dir, 'a'), 'utf8')).toBe('a as it was\n'); // the transaction's edit: undone
  expect(fs.existsSync(join(dir, 'made-by-tx'))).toBe(false); // the transaction's new file: gone
  expect(fs.readFileSync(join(dir, 'e'), 'utf8')).toBe('e as it was\n'); // the transaction's deletion: undone
  expect(fs.readFileSync(join(dir, 'b'), 'utf8')).toBe('an admin edit, during the rollback\n'); // theirs
  expect(fs.readFileSync(join(dir, 'sub', 'admin-new'), 'utf8')).toBe('a file an admin made\n'); // theirs
  expect(fs.existsSync(join(dir, 'c'))).toBe(false); // their deletion stands
  expect(fs.statSync(join(dir, 'd')).mode & 0o777).toBe(0o600); // their chmod stands
  expect(fs.readFileSync(join(dir, 'sub', 'f'), 'utf8')).toBe('f as it was\n');
}

describe('undo is compare-and-swap: a snapshot step restores around what others changed', () => {
  for (const store of [false, true]) {
    it(`edits, a new file, a deletion and a chmod by someone else while the rollback runs: left untouched, UNDO_CONFLICT naming each; the rest restored (${store ? 'store' : 'journal'})`, async () => {
      const s = setup();
      const decoy = s.decoyState();
      const storeDir = join(s.dir, '..', 'store');
      const tx = transaction('cas', { journal: memoryJournal(), handleSignals: false });
      // Someone else acts after the rollback started, before the snapshot's own undo runs.
      tx.on((e) => {
        if (e.type === 'undo:start' && e.step === 0) othersChange(s.dir);
      });
      tx.add(snapshot({ path: s.dir, ...(store ? { store: storeDir } : {}) }));
      tx.add(scribble({ dir: s.dir }));
      tx.add(failingStep({ message: 'force the rollback' }));
      const outcome = await tx.run();
      expect(outcome.status).toBe('rollback-failed');
      const error = outcome.steps[0]?.undo?.error;
      expect(error?.code, error?.message).toBe('UNDO_CONFLICT');
      for (const path of ['b', 'sub/admin-new', 'c', 'd']) expect(error?.message).toContain(path);
      expect(error?.message).not.toMatch(/\ba: /);
      expectRestoredAroundOthers(s.dir);
      expect(s.decoyState()).toEqual(decoy);
    });
  }

  it('an interrupted rollback, someone else edits while it waits, then recover(): their edit is kept (conflict); once they put it back, recover finishes the rollback', async () => {
    const s = setup();
    const decoy = s.decoyState();
    const root = join(s.dir, '..', 'journal-root');
    fs.mkdirSync(root, { mode: 0o700 });
    const token = join(s.dir, '..', 'token');
    fs.writeFileSync(token, '');
    const kinds = [...snapshotKinds, scribble, undoFailsWhileToken, failingStep];
    const tx = transaction('cas', { journal: fileJournal({ root }), handleSignals: false });
    tx.add(snapshot({ path: s.dir }));
    tx.add(scribble({ dir: s.dir }));
    tx.add(undoFailsWhileToken({ token }));
    tx.add(failingStep({ message: 'force the rollback' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rollback-failed'); // stopped at step 3's undo: the tree still as the transaction left it
    expect(fs.readFileSync(join(s.dir, 'a'), 'utf8')).toBe('written by the transaction\n');

    othersChange(s.dir); // while nothing runs
    fs.rmSync(token);
    const first = await recover({ root, kinds });
    const t1 = first.transactions[0]!;
    expect(t1.result, t1.error?.message).toBe('rollback-failed');
    expect(JSON.stringify(first)).toContain('UNDO_CONFLICT');
    expectRestoredAroundOthers(s.dir);

    // Resolved the documented way: the admin's changes put back as the snapshot holds them (or moved aside).
    fs.writeFileSync(join(s.dir, 'b'), 'b as it was\n');
    fs.rmSync(join(s.dir, 'sub', 'admin-new'));
    fs.writeFileSync(join(s.dir, 'c'), 'c as it was\n');
    fs.chmodSync(join(s.dir, 'c'), 0o644);
    fs.chmodSync(join(s.dir, 'd'), 0o644);
    const second = await recover({ root, kinds });
    expect(second.transactions[0]?.result, second.transactions[0]?.error?.message).toBe('rolled-back');
    for (const name of ['a', 'b', 'c', 'd', 'e']) expect(fs.readFileSync(join(s.dir, name), 'utf8')).toBe(`${name} as it was\n`);
    expect(fs.existsSync(join(s.dir, 'made-by-tx'))).toBe(false);
    expect(s.decoyState()).toEqual(decoy);
  });

  it('identities do not hide a change: an edit that keeps the size and puts the mtime back, to a file nobody touched and to one the transaction wrote, is still a conflict (its ctime moved)', async () => {
    const s = setup();
    const decoy = s.decoyState();
    // Let the tree settle, so the snapshot records identities (a file changed in the last 50 ms gets none and is hashed).
    await new Promise((resolve) => setTimeout(resolve, 120));
    const sameSizeAndTime = (path: string, content: string) => {
      const before = fs.statSync(path, { bigint: true });
      expect(Buffer.byteLength(content)).toBe(Number(before.size));
      fs.writeFileSync(path, content);
      fs.utimesSync(path, new Date(Number(before.atimeNs / 1_000_000n)), new Date(Number(before.mtimeNs / 1_000_000n)));
      // Node sets times to the microsecond: put the exact nanoseconds back, as an attacker with touch(1) could.
      spawnSync('touch', ['-m', '-d', `@${before.mtimeNs / 1_000_000_000n}.${String(before.mtimeNs % 1_000_000_000n).padStart(9, '0')}`, path]);
      expect(fs.statSync(path, { bigint: true }).mtimeNs).toBe(before.mtimeNs);
    };
    const tx = transaction('cas', { journal: memoryJournal(), handleSignals: false });
    tx.on((e) => {
      if (e.type !== 'undo:start' || e.step !== 0) return;
      sameSizeAndTime(join(s.dir, 'b'), 'B AS IT WAS\n'); // untouched by the transaction: its identity is in the snapshot and in the record
      sameSizeAndTime(join(s.dir, 'a'), 'WRITTEN BY THE TRANSACTION\n'); // written by the transaction just before the rollback
    });
    tx.add(snapshot({ path: s.dir }));
    tx.add(scribble({ dir: s.dir }));
    tx.add(failingStep({ message: 'force the rollback' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rollback-failed');
    const error = outcome.steps[0]?.undo?.error;
    expect(error?.code, error?.message).toBe('UNDO_CONFLICT');
    expect(error?.message).toMatch(/\bb: /);
    expect(error?.message).toMatch(/\ba: /);
    expect(fs.readFileSync(join(s.dir, 'b'), 'utf8')).toBe('B AS IT WAS\n'); // theirs, kept
    expect(fs.readFileSync(join(s.dir, 'a'), 'utf8')).toBe('WRITTEN BY THE TRANSACTION\n');
    expect(fs.existsSync(join(s.dir, 'made-by-tx'))).toBe(false); // the rest restored
    expect(fs.readFileSync(join(s.dir, 'e'), 'utf8')).toBe('e as it was\n');
    expect(s.decoyState()).toEqual(decoy);
  });

  it('a control case: with nobody else changing anything, the rollback restores the tree exactly (rolled-back)', async () => {
    const s = setup();
    const before = treeState(s.dir);
    const tx = transaction('cas', { journal: memoryJournal(), handleSignals: false });
    tx.add(snapshot({ path: s.dir }));
    tx.add(scribble({ dir: s.dir }));
    tx.add(failingStep({ message: 'force the rollback' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(treeState(s.dir)).toEqual(before);
  });
});
