import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineStep, fileJournal, memoryJournal, transaction, type RollbackFailedOutcome } from '@unwind/core';
import { conformanceSuite, failingStep, requireHere } from '@unwind/core/testing';
import { kinds, list, snapshot } from '@unwind/snapshots';
import { testHooks } from '../src/hooks.js';
import { mutate } from './fixtures/kinds.js';
import { collectionSandbox, isRoot, makeTree, mutateTree, richState, run } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox() {
  return collectionSandbox(cleanups);
}

/** Snapshots kept in a test context's blob directory, found by the source they hold. */
function journalSnapshotsOf(dir: string): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(tmpdir()).filter((n) => n.startsWith('unwind-test-blobs-'))) {
    const store = join(tmpdir(), name, '0', 'tree');
    for (const s of list(store)) if (s.source === dir) out.push(s.path);
  }
  return out;
}

/** The snapshot kind, remembering the before-state of its last prepare (a partial `do` needs the journaled id). */
let lastBefore: { store: string; id: string } | undefined;
const snapshotRemembering = defineStep({
  ...snapshot.definition,
  prepare: async (a, ctx) => (lastBefore = await snapshot.definition.prepare(a, ctx)),
});

/** What a kill while the snapshot is written leaves: `<id>.partial` with some stored copies and no manifest. */
function leavePartialSnapshot(): void {
  const partial = join(lastBefore!.store, `${lastBefore!.id}.partial`);
  fs.mkdirSync(join(partial, 'data', '00'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(join(partial, 'data', '00', '0'), 'half a copy');
}

/** The tree and the store's leftovers: undo must leave no partial snapshot. */
function treeAndPartials(dir: string, store: string) {
  const partials = fs.existsSync(store) ? fs.readdirSync(store).filter((n) => n.endsWith('.partial')) : [];
  return { tree: richState(dir), partials };
}

conformanceSuite(snapshotRemembering, {
  setup: async () => {
    const s = sandbox();
    return {
      args: { path: s.dir, store: s.store },
      state: async () => treeAndPartials(s.dir, s.store),
      cleanup: async () => fs.rmSync(s.base, { recursive: true, force: true }),
      partialDo: async () => leavePartialSnapshot(),
      breakChange: async () => fs.rmSync(s.store, { recursive: true, force: true }),
      unchanged: 'a snapshot changes nothing it protects; what it writes is a finished snapshot in the store, which the state leaves out',
    };
  },
});

describe('snapshot kept in the journal (no store)', () => {
  conformanceSuite(snapshotRemembering, {
    setup: async () => {
      const s = sandbox();
      return {
        args: { path: s.dir },
        state: async () => richState(s.dir),
        cleanup: async () => fs.rmSync(s.base, { recursive: true, force: true }),
        partialDo: async () => {
          leavePartialSnapshot();
          expect(fs.readdirSync(lastBefore!.store).some((n) => n.endsWith('.partial'))).toBe(true);
        },
        breakChange: async () => journalSnapshotsOf(s.dir).forEach((p) => fs.rmSync(p, { recursive: true })),
        unchanged: 'a snapshot changes nothing it protects; what it writes is kept in the journal',
      };
    },
  });
});

describe('snapshot step in transactions', () => {
  it('collection update: snapshot, arbitrary writes, a failure -> the tree is exactly as before (file journal)', async () => {
    const s = sandbox();
    const before = richState(s.dir);
    const tx = transaction('update collection', { journal: fileJournal({ root: s.root }), handleSignals: false });
    tx.add(snapshot({ path: s.dir }));
    tx.add(mutate({ dir: s.dir }));
    tx.add(failingStep({ message: 'the update failed' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps.map((r) => r.status)).toEqual(['undone', 'undone', 'undone']);
    expect(richState(s.dir)).toEqual(before);
  });

  it('commit with a store: the snapshot is kept, its pin released, and retention keeps the newest keepLast', async () => {
    const s = sandbox();
    for (let i = 0; i < 3; i++) {
      fs.rmSync(s.dir, { recursive: true });
      fs.mkdirSync(s.dir);
      makeTree(s.dir);
      const tx = transaction('update', { journal: fileJournal({ root: s.root }), handleSignals: false });
      tx.add(snapshot({ path: s.dir, store: s.store, keepLast: 2 }));
      tx.add(mutate({ dir: s.dir }));
      expect((await tx.run()).status).toBe('committed');
      expect(fs.readFileSync(join(s.dir, 'new-file'), 'utf8')).toBe('new'); // the writes stay
    }
    const snaps = list(s.store);
    expect(snaps.map((x) => x.state)).toEqual(['complete', 'complete']);
    expect(snaps.flatMap((x) => x.pins)).toEqual([]);
  });

  it('while the transaction runs, its snapshot is pinned: a prune by someone else cannot delete it', async () => {
    const s = sandbox();
    const before = richState(s.dir);
    const { prune } = await import('@unwind/snapshots');
    const tx = transaction('update', { journal: fileJournal({ root: s.root }), handleSignals: false });
    tx.add(snapshot({ path: s.dir, store: s.store }));
    tx.add(mutate({ dir: s.dir }));
    let pruned: unknown;
    tx.on((event) => {
      if (event.type === 'step:verified' && event.step === 1) pruned = prune(s.store, { keepLast: 0 });
    });
    tx.add(failingStep({ message: 'fail after the prune' }));
    const outcome = await tx.run();
    expect(pruned).toMatchObject({ deleted: [], pinned: [expect.any(String)] });
    expect(outcome.status).toBe('rolled-back');
    expect(richState(s.dir)).toEqual(before);
  });

  it('commit without a store deletes the snapshot from the journal', async () => {
    const s = sandbox();
    const tx = transaction('update', { journal: fileJournal({ root: s.root, retention: 'keep' }), handleSignals: false });
    tx.add(snapshot({ path: s.dir }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    const blobStore = join(s.root, outcome.transactionId!, 'blobs', '0', 'tree');
    expect(list(blobStore)).toEqual([]);
  });

  it('a corrupt stored snapshot makes the undo fail: rollback-failed, the tree left as the later steps left it', async () => {
    const s = sandbox();
    const tx = transaction('update', { journal: fileJournal({ root: s.root }), handleSignals: false, retry: { undo: { retries: 0 } } });
    tx.add(snapshot({ path: s.dir, store: s.store }));
    tx.add(mutate({ dir: s.dir, store: s.store, corruptStoredFileOf: 'all' }));
    tx.add(failingStep({ message: 'fail' }));
    const outcome = (await tx.run()) as RollbackFailedOutcome;
    expect(outcome.status).toBe('rollback-failed');
    expect(outcome.undoError.code).toBe('SNAPSHOT_CORRUPT');
    expect(outcome.remaining).toEqual([0]);
    const mutated = (() => {
      const other = sandbox();
      mutateTree(other.dir);
      return richState(other.dir).map((e) => e.path);
    })();
    expect(richState(s.dir).map((e) => e.path)).toEqual(mutated); // nothing half-restored
  });

  it('a restore that does not verify makes the undo fail: rollback-failed, not success', async () => {
    const s = sandbox();
    const tx = transaction('update', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 1, minTimeout: 10 } } });
    tx.add(snapshot({ path: s.dir }));
    tx.add(mutate({ dir: s.dir }));
    tx.add(failingStep({ message: 'fail' }));
    // A concurrent writer that keeps adding files while the restore runs.
    let n = 0;
    testHooks.point = (where) => {
      if (where === 'restore') fs.writeFileSync(join(s.dir, `intruder-${n++}`), 'x');
    };
    try {
      const outcome = (await tx.run()) as RollbackFailedOutcome;
      expect(outcome.status).toBe('rollback-failed');
      expect(outcome.undoError.code).toBe('RESTORE_NOT_VERIFIED');
      expect(outcome.undoError.message).toMatch(/intruder-\d+: extra file/);
    } finally {
      delete testHooks.point;
    }
  });

  it('a restore that cannot write (read-only mount inside the tree) -> rollback-failed', async () => {
    requireHere(isRoot ? false : 'not root', 'root');
    const s = sandbox();
    const sub = join(s.dir, 'sub');
    const tx = transaction('update', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
    tx.add(snapshot({ path: s.dir }));
    tx.add(mutate({ dir: s.dir }));
    tx.add(failingStep({ message: 'fail' }));
    tx.on((event) => {
      if (event.type === 'step:failed') {
        run(['mount', '--bind', sub, sub]);
        run(['mount', '-o', 'remount,bind,ro', sub]);
      }
    });
    try {
      const outcome = (await tx.run()) as RollbackFailedOutcome;
      expect(outcome.status).toBe('rollback-failed');
      expect(JSON.stringify(outcome.undoError)).toMatch(/EROFS|read-only/);
    } finally {
      spawnUmount(sub);
    }
  });

  it('validate refuses bad arguments before anything runs', async () => {
    const s = sandbox();
    for (const args of [{ path: 'relative' }, { path: s.dir, store: join(s.dir, 'inside') }, { path: s.dir, keepLast: 2 }, { path: s.dir, store: s.store, keepLast: -1 }]) {
      const tx = transaction('bad', { journal: memoryJournal(), handleSignals: false });
      tx.add(snapshot(args));
      const outcome = await tx.run();
      expect(outcome.status, JSON.stringify(args)).toBe('refused');
    }
    expect(fs.existsSync(s.store)).toBe(false);
  });

  it('exports every step kind in `kinds`', () => {
    expect(kinds.map((k) => k.type)).toEqual(['snapshots.snapshot']);
  });
});

function spawnUmount(path: string): void {
  try {
    run(['umount', path]);
  } catch {
    // not mounted (the test failed before mounting)
  }
}
