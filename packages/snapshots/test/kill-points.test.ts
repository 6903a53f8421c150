import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { recover } from '@unwind/core';
import { killTests, testKinds, treeState, type KillWorld, type RunStepsConfig } from '@unwind/core/testing';
import { SNAPSHOT_ID } from '@unwind/snapshots';
import { kinds } from './fixtures/kill-kinds.js';
import { collectionSandbox } from './helpers.js';

// SIGKILL a transaction of a snapshot step (in a store) and arbitrary writes after each of its mutating
// operations in turn — every file-system call of taking the snapshot, of restoring it on rollback, of
// deleting or keeping it and pruning the store on commit, and of the journal — then recover() in this
// process: the tree and the store are exactly as before (or after, past the commit point), and a second
// recover() changes nothing. Also random kill times from the measured span of the same transaction.
// A seeded sample runs in the test command (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all).

const kindsModule = join(import.meta.dirname, 'fixtures', 'kill-kinds.ts');
const allKinds = [...kinds, ...testKinds];

/** The store as a comparable value: every path in it, snapshot ids (time and random) written as ID. */
function storeState(store: string): string[] {
  if (!fs.existsSync(store)) return ['(no store)'];
  const id = new RegExp(SNAPSHOT_ID.source.slice(1, -1), 'g');
  return fs.readdirSync(store, { recursive: true, encoding: 'utf8' }).map((p) => relative(store, join(store, p)).replace(id, 'ID')).sort();
}

/** The tree (paths, types, modes, owners, bytes, link targets) and which paths share an inode. */
function treeAndLinks(dir: string) {
  const first = new Map<number, string>();
  return treeState(dir).map((e) => {
    const ino = fs.lstatSync(join(dir, e.path)).ino;
    if (!first.has(ino)) first.set(ino, e.path);
    return { ...e, linkGroup: e.type === 'file' ? first.get(ino) : undefined };
  });
}

function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const cleanups: Array<() => void> = [];
  const s = collectionSandbox(cleanups);
  fs.mkdirSync(s.store, { mode: 0o700 });
  return {
    config: {
      name: 'snapshot kill points', journalRoot: s.root, kindsModule, retention: 'keep', rollback,
      steps: [
        { type: 'snapshots.snapshot', args: { path: s.dir, store: s.store, keepLast: 1 } },
        { type: 'snapshotstest.mutate', args: { dir: s.dir } },
      ],
    },
    roots: [s.base],
    journalRoot: s.root,
    state: () => ({ tree: treeAndLinks(s.dir), store: storeState(s.store) }),
    recover: () => recover({ root: s.root, kinds: allKinds }),
    cleanup: () => cleanups.forEach((c) => c()),
  };
}

killTests({
  name: 'snapshots',
  transaction: 'of a snapshot in a store',
  runs: {
    committed: 'a committing run (take the snapshot, write, keep it and prune)',
    rolledBack: 'a run that rolls back (take the snapshot, write, restore the tree, delete the snapshot)',
  },
  arrange,
  // 8 each, as the files test: with 4, the 60% rule (3 of 4) failed a run whenever 2 kills of 4 came after the run by chance.
  randomKills: { committed: 8, rolledBack: 8 },
});
