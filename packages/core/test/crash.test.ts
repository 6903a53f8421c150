import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile, recover } from '@unwind/core';
import { testKinds, treeState } from '@unwind/core/testing';
import { runChild, tempDir } from './helpers.js';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox() {
  const base = tempDir();
  cleanups.push(base.remove);
  const dir = join(base.path, 'sandbox');
  fs.mkdirSync(join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(join(dir, 'a.conf'), 'old a\n', { mode: 0o640 });
  fs.writeFileSync(join(dir, 'old.log'), 'old log\n');
  fs.symlinkSync('a.conf', join(dir, 'link'));
  return { base: base.path, dir, root: join(base.path, 'journal') };
}

async function crashAndRecover(config: Record<string, unknown>, options: { killAfterMs?: number } = {}) {
  const s = sandbox();
  const before = treeState(s.dir);
  const token = join(s.base, 'kill-token');
  fs.writeFileSync(token, '');
  const result = await runChild(child, [JSON.stringify({ root: s.root, dir: s.dir, killToken: token, ...config })], options);
  const records = listTransactions(s.root)[0]?.state?.records ?? [];
  const passedCommitPoint = records.some((r) => r.kind === 'commit-point');
  const report = await recover({ root: s.root, kinds: testKinds });
  return { s, before, result, report, passedCommitPoint, state: treeState(s.dir) };
}

describe('crash recovery (SIGKILL in a child process)', () => {
  let afterState: ReturnType<typeof treeState>;
  let recordCount = 0;

  it('a clean run commits; its journal tells how many boundaries there are', async () => {
    const s = sandbox();
    const result = await runChild(child, [JSON.stringify({ root: s.root, dir: s.dir })]);
    expect(result.code, result.stderr).toBe(0);
    afterState = treeState(s.dir);
    expect(afterState.map((e) => e.path)).toEqual(['.', 'a.conf', 'b.conf', 'link', 'sub', 'sub/c.conf']);
    const [listing] = listTransactions(s.root);
    recordCount = readJournalFile(listing!.path).records.length;
    expect(recordCount).toBeGreaterThan(10);
  });

  it('a kill after every journal record, then recover(), gives the before-state or (past the commit point) the after-state', async () => {
    expect(recordCount).toBeGreaterThan(0);
    for (let n = 1; n <= recordCount; n++) {
      const { s, result, report, passedCommitPoint, before, state } = await crashAndRecover({ killAtRecord: n });
      expect(result.signal, `record ${n}: ${result.stderr}`).toBe('SIGKILL');
      expect(report.ok, `record ${n}`).toBe(true);
      expect(state, `kill at record ${n}`).toEqual(passedCommitPoint ? afterState : before);
      // Recovering again is safe and changes nothing.
      await recover({ root: s.root, kinds: testKinds });
      expect(treeState(s.dir), `second recover after record ${n}`).toEqual(state);
    }
  }, 180_000);

  it('a kill inside do of every step, then recover(), gives the before-state', async () => {
    for (const step of [0, 1, 2]) {
      const { result, report, before, state } = await crashAndRecover({ killIn: { step, phase: 'do' } });
      expect(result.signal, `do of step ${step}`).toBe('SIGKILL');
      expect(report.transactions[0]?.result).toBe('rolled-back');
      expect(state, `kill inside do of step ${step}`).toEqual(before);
    }
  }, 60_000);

  it('a kill inside undo of every step, during a rollback, then recover(), gives the before-state', async () => {
    for (const step of [0, 1, 2]) {
      const { result, report, before, state } = await crashAndRecover({ killIn: { step, phase: 'undo' }, failAtEnd: true });
      expect(result.signal, `undo of step ${step}`).toBe('SIGKILL');
      expect(report.transactions[0]?.result).toBe('rolled-back');
      expect(state, `kill inside undo of step ${step}`).toEqual(before);
    }
  }, 60_000);

  it('recover() twice is safe: the second run finds nothing left to do', async () => {
    const { s, before, state } = await crashAndRecover({ killAtRecord: 5 });
    expect(state).toEqual(before);
    const second = await recover({ root: s.root, kinds: testKinds });
    expect(second.transactions.every((t) => t.result === 'already-finished')).toBe(true);
    expect(treeState(s.dir)).toEqual(before);
  }, 30_000);
});
