import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile, recover } from '@unwind/core';
import { testKinds, treeState } from '@unwind/core/testing';
import { kinds, list } from '@unwind/snapshots';
import { testKindsHere } from './fixtures/kinds.js';
import { collectionSandbox, richState, runChild } from './helpers.js';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const allKinds = [...kinds, ...testKindsHere, ...testKinds];
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox() {
  return collectionSandbox(cleanups);
}

interface Config {
  killAtRecord?: number;
  crashIn?: { where: 'create' | 'restore'; at: number };
  failAtEnd?: boolean;
  withStore?: boolean;
}

async function crashAndRecover(config: Config) {
  const s = sandbox();
  const before = richState(s.dir);
  const { withStore, ...rest } = config;
  const result = await runChild(child, [JSON.stringify({ root: s.root, dir: s.dir, ...(withStore ? { store: s.store } : {}), ...rest })]);
  const records = listTransactions(s.root)[0]?.state?.records ?? [];
  const passedCommitPoint = records.some((r) => r.kind === 'commit-point');
  const report = await recover({ root: s.root, kinds: allKinds });
  const again = await recover({ root: s.root, kinds: allKinds });
  return { s, before, result, report, again, passedCommitPoint, state: richState(s.dir), tree: treeState(s.dir) };
}

describe('crash recovery around a snapshot step (SIGKILL in a child process)', () => {
  const counts: Record<string, number> = {};
  let afterTree: ReturnType<typeof treeState>;

  it('clean runs: a committed update keeps the writes; a failed one is rolled back exactly', async () => {
    for (const failAtEnd of [false, true]) {
      const s = sandbox();
      const before = richState(s.dir);
      const result = await runChild(child, [JSON.stringify({ root: s.root, dir: s.dir, failAtEnd })]);
      expect(result.code, result.stderr).toBe(0);
      const outcome = JSON.parse(fs.readFileSync(join(s.base, 'outcome.json'), 'utf8')) as { status: string };
      expect(outcome.status).toBe(failAtEnd ? 'rolled-back' : 'committed');
      if (failAtEnd) expect(richState(s.dir)).toEqual(before);
      else afterTree = treeState(s.dir);
      counts[String(failAtEnd)] = readJournalFile(listTransactions(s.root)[0]!.path).records.length;
    }
    expect(afterTree.map((e) => e.path)).toContain('new-dir/inner/x');
    expect(counts.false).toBeGreaterThan(8);
    expect(counts.true).toBeGreaterThan(counts.false!);
  }, 60_000);

  it('a kill after every journal record, then recover(), gives exactly the before-tree (or the after-tree past the commit point)', async () => {
    for (const failAtEnd of [false, true]) {
      const total = counts[String(failAtEnd)]!;
      expect(total).toBeGreaterThan(0);
      for (let n = 1; n <= total; n++) {
        const { result, report, again, passedCommitPoint, before, state, tree } = await crashAndRecover({ killAtRecord: n, failAtEnd });
        const what = `failAtEnd=${failAtEnd}, kill at record ${n}`;
        expect(result.signal, `${what}: ${result.stderr}`).toBe('SIGKILL');
        expect(report.ok, what).toBe(true);
        expect(again.transactions.every((t) => t.result === 'already-finished'), what).toBe(true);
        // after-tree compared without mtimes: the writes happen at a different time in every run
        if (passedCommitPoint && !failAtEnd) expect(tree, what).toEqual(afterTree);
        else expect(state, what).toEqual(before);
      }
    }
  }, 300_000);

  it('a kill inside snapshot creation (after each stored file), then recover(): the tree is untouched and no partial snapshot is left in the store', async () => {
    for (let at = 1; at <= 4; at++) {
      const { result, report, before, state, s } = await crashAndRecover({ crashIn: { where: 'create', at }, withStore: true });
      expect(result.signal, `create file ${at}: ${result.stderr}`).toBe('SIGKILL');
      expect(report.ok).toBe(true);
      expect(state, `kill inside create at file ${at}`).toEqual(before);
      expect(fs.readdirSync(s.store).filter((n) => n.endsWith('.partial')), `kill inside create at file ${at}`).toEqual([]);
      expect(list(s.store)).toEqual([]);
    }
  }, 60_000);

  it('a kill inside restore (after each restore operation, during a rollback), then recover(), gives exactly the before-tree', async () => {
    let at = 1;
    for (; at <= 60; at++) {
      const { result, report, before, state } = await crashAndRecover({ crashIn: { where: 'restore', at }, failAtEnd: true });
      if (result.signal !== 'SIGKILL') {
        // The restore has fewer operations than `at`: the run finished by itself, rolled back.
        expect(result.code, result.stderr).toBe(0);
        expect(state).toEqual(before);
        break;
      }
      expect(report.transactions[0]?.result, `restore op ${at}`).toBe('rolled-back');
      expect(state, `kill inside restore at operation ${at}`).toEqual(before);
    }
    expect(at).toBeGreaterThan(10); // every operation of a real restore was a kill point
  }, 300_000);
});
