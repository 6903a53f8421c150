import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listTransactions, recover } from '@unwind/core';
import { requireHere, testKinds, treeState } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { isRoot, runChild, tempDir } from './helpers.js';

// SIGKILL a child process at every journal record and before every mutating
// filesystem call; recover() must give back the exact before-tree, or the
// after-tree when the commit point was passed. Nothing else is acceptable.
const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const allKinds = [...kinds, ...testKinds];
if (!isRoot) console.warn('files crash tests skipped: not root (the scenario changes file owners)');

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox() {
  const base = tempDir('unwind-files-crash-');
  cleanups.push(base.remove);
  const dir = join(base.path, 'sb');
  fs.mkdirSync(join(dir, 'home', 'alice', '.ssh'), { recursive: true });
  fs.mkdirSync(join(dir, 'home', 'alice', 'src', 'deep'), { recursive: true });
  fs.writeFileSync(join(dir, 'home', 'alice', '.ssh', 'authorized_keys'), 'key\n', { mode: 0o600 });
  fs.writeFileSync(join(dir, 'home', 'alice', 'src', 'deep', 'main.c'), 'int main;\n');
  fs.writeFileSync(join(dir, 'home', 'alice', 'notes'), 'n\n');
  fs.symlinkSync('notes', join(dir, 'home', 'alice', 'link'));
  fs.writeFileSync(join(dir, 'mail'), 'mail\n');
  fs.writeFileSync(join(dir, 'a.conf'), 'old a\n', { mode: 0o640 });
  fs.chownSync(join(dir, 'a.conf'), 1000, 1000);
  return { base: base.path, dir, root: join(base.path, 'journal') };
}

interface Crash {
  label: string;
  config: Record<string, unknown>;
  /** SIGKILL from outside after this many ms (the run may finish first). */
  killAfterMs?: number;
}

async function crashAndRecover({ label, config, killAfterMs }: Crash, afterState: unknown) {
  const s = sandbox();
  const before = treeState(s.dir);
  const result = await runChild(child, [JSON.stringify({ root: s.root, dir: s.dir, ...config })], killAfterMs === undefined ? {} : { killAfterMs });
  if (killAfterMs === undefined || result.signal !== null) expect(result.signal, `${label}: ${result.stderr}`).toBe('SIGKILL');
  else expect(result.code, `${label}: ${result.stderr}`).toBe(0);
  const records = listTransactions(s.root)[0]?.state?.records ?? [];
  const passedCommitPoint = records.some((r) => r.kind === 'commit-point');
  const report = await recover({ root: s.root, kinds: allKinds });
  expect(report.ok, `${label}: ${JSON.stringify(report.transactions.map((t) => t.error ?? t.steps.map((x) => x.undo?.error)))}`).toBe(true);
  const state = treeState(s.dir);
  expect(state, `${label} (commit point ${passedCommitPoint ? 'passed' : 'not passed'})`).toEqual(passedCommitPoint ? afterState : before);
  await recover({ root: s.root, kinds: allKinds });
  expect(treeState(s.dir), `${label}: a second recover changes nothing`).toEqual(state);
  return passedCommitPoint;
}

/** Runs crashes two at a time (each is a separate process). */
async function all(crashes: Crash[], afterState: unknown): Promise<boolean[]> {
  const results: boolean[] = [];
  for (let i = 0; i < crashes.length; i += 2) results.push(...(await Promise.all(crashes.slice(i, i + 2).map((c) => crashAndRecover(c, afterState)))));
  return results;
}

describe('crash recovery of writeFile, ensureDir and remove (SIGKILL in a child)', () => {
  beforeAll(() => requireHere(isRoot ? false : 'not root', 'root'));
  let afterState: unknown;
  let records = 0;
  let ops = 0;
  let rollbackOps = 0;

  it('a clean run commits; it tells how many records and filesystem calls there are', async () => {
    const s = sandbox();
    const result = await runChild(child, [JSON.stringify({ root: s.root, dir: s.dir })]);
    expect(result.code, result.stderr).toBe(0);
    ops = JSON.parse(result.stdout).ops;
    afterState = treeState(s.dir);
    expect((afterState as Array<{ path: string }>).map((e) => e.path)).toEqual([
      '.', 'a.conf', 'etc', 'etc/app', 'etc/app/conf.d', 'etc/app/conf.d/b.conf', 'home', 'home/alice', 'home/alice/.ssh', 'home/alice/.ssh/authorized_keys',
    ]);
    records = listTransactions(s.root)[0]!.state!.records.length;
    const failed = sandbox();
    const rolledBack = await runChild(child, [JSON.stringify({ root: failed.root, dir: failed.dir, failAtEnd: true })]);
    expect(JSON.parse(rolledBack.stdout)).toMatchObject({ status: 'rolled-back' });
    rollbackOps = JSON.parse(rolledBack.stdout).ops;
    expect(records).toBeGreaterThan(10);
    expect(ops).toBeGreaterThan(30);
  });

  it('a kill after every journal record', async () => {
    const crashes = Array.from({ length: records }, (_, i) => ({ label: `record ${i + 1}`, config: { killAtRecord: i + 1 } }));
    const passed = await all(crashes, afterState);
    expect(passed).toContain(true);
    expect(passed).toContain(false);
  }, 600_000);

  it('a kill before every mutating filesystem call of a committing run (inside every do, verify, commit and journal write)', async () => {
    const crashes = Array.from({ length: ops }, (_, i) => ({ label: `fs call ${i + 1} of ${ops}`, config: { killAtOp: i + 1 } }));
    const passed = await all(crashes, afterState);
    expect(passed).toContain(true);
    expect(passed).toContain(false);
  }, 900_000);

  it('a kill before every mutating filesystem call of a run that rolls back (inside every undo)', async () => {
    const crashes = Array.from({ length: rollbackOps }, (_, i) => ({ label: `rollback fs call ${i + 1} of ${rollbackOps}`, config: { killAtOp: i + 1, failAtEnd: true } }));
    const passed = await all(crashes, afterState);
    expect(passed.every((p) => !p)).toBe(true);
  }, 900_000);
});
