import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { listTransactions, readJournalFile } from '@unwind/core';
import { destroyUser, recoverDestroy } from '../src/destroy.js';
import { APP, destroyCommand, destroyState, expectDestroyed, machineDb, makeSandbox, pool, runChild, skipReason, type TestSandbox } from './helpers.js';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const made: TestSandbox[] = [];
let machine: Record<string, string>;
beforeAll(() => {
  if (!skipReason) machine = machineDb();
});
afterAll(() => {
  for (const sb of made) fs.rmSync(sb.root, { recursive: true, force: true });
  if (!skipReason) expect(machineDb()).toEqual(machine);
});

function sandbox(): TestSandbox {
  const sb = makeSandbox();
  made.push(sb);
  return sb;
}

async function crashAt(n: number, extra: Record<string, unknown> = {}) {
  const sb = sandbox();
  const before = destroyState(sb);
  const result = await runChild(child, [JSON.stringify({ root: sb.root, killAtRecord: n, ...extra })]);
  const records = listTransactions(sb.journalRoot)[0]?.state?.records ?? [];
  return { sb, before, result, passedCommitPoint: records.some((r) => r.kind === 'commit-point') };
}

describe('user-destroy: SIGKILL after every journal record, then recover()', () => {
  beforeAll(() => requireHere(skipReason, 'root (the real shadow tools and setpriv)'));
  let count = 0;
  it('a clean run in a child commits', async () => {
    const sb = sandbox();
    const done = await runChild(child, [JSON.stringify({ root: sb.root })]);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).status).toBe('committed');
    expectDestroyed(sb, expect);
    count = readJournalFile(listTransactions(sb.journalRoot)[0]!.path).records.length;
    expect(count).toBeGreaterThan(10);
  });

  it('every boundary: the user with all of their state (byte for byte, mtimes too), or past the commit point no user and no state — never a user without their state', async () => {
    expect(count).toBeGreaterThan(0);
    const outcomes = await pool(Array.from({ length: count }, (_, i) => i + 1), 8, async (n) => {
      const c = await crashAt(n);
      const report = await recoverDestroy({ journalRoot: c.sb.journalRoot });
      const recovered = destroyState(c.sb);
      const again = await recoverDestroy({ journalRoot: c.sb.journalRoot });
      return { n, ...c, report, recovered, again, second: destroyState(c.sb) };
    });
    let passed = 0;
    for (const o of outcomes) {
      expect(o.result.signal, `record ${o.n}: ${o.result.stderr}`).toBe('SIGKILL');
      expect(o.report.ok, `record ${o.n}`).toBe(true);
      if (o.passedCommitPoint) {
        passed++;
        expectDestroyed(o.sb, expect);
      } else {
        expect(o.recovered, `kill after record ${o.n}`).toEqual(o.before);
      }
      // The example's invariant, at every boundary: the account exists exactly when its state does.
      const userExists = /^alice:/m.test(o.recovered.db.passwd ?? '');
      expect(fs.existsSync(o.sb.stateDir), `record ${o.n}`).toBe(userExists);
      expect(fs.existsSync(o.sb.dataDir), `record ${o.n}`).toBe(userExists);
      expect(o.again.transactions.every((t) => t.result === 'already-finished'), `second recover after record ${o.n}`).toBe(true);
      expect(o.second).toEqual(o.recovered);
    }
    expect(passed).toBeGreaterThan(0);
    expect(passed).toBeLessThan(count);
  }, 90_000);

  it('a run whose userdel is always busy, killed at every record of its rollback too: recover() gives the user with all of their state', async () => {
    const probe = sandbox();
    const failing = await runChild(child, [JSON.stringify({ root: probe.root, busy: true })]);
    expect(JSON.parse(failing.stdout).status).toBe('rolled-back');
    const records = readJournalFile(listTransactions(probe.journalRoot)[0]!.path).records;
    expect(records.map((r) => r.kind)).toContain('undone');
    const outcomes = await pool(records.map((r) => r.seq), 8, async (n) => {
      const c = await crashAt(n, { busy: true });
      const report = await recoverDestroy({ journalRoot: c.sb.journalRoot });
      return { n, ...c, report, recovered: destroyState(c.sb) };
    });
    for (const o of outcomes) {
      expect(o.result.signal, `record ${o.n}: ${o.result.stderr}`).toBe('SIGKILL');
      expect(o.report.ok, `record ${o.n}`).toBe(true);
      expect(o.passedCommitPoint).toBe(false);
      expect(o.recovered, `kill after record ${o.n} (${records[o.n - 1]!.kind})`).toEqual(o.before);
    }
  }, 60_000);

  it('running the destroy again after a kill finishes the job, never half', async () => {
    const picks = [3, Math.floor(count / 2), count - 2];
    const runs = await pool(picks, 3, async (n) => {
      const c = await crashAt(n);
      const rerun = await destroyUser({ user: 'alice', app: APP, destroyCommand: destroyCommand(c.sb), prefix: c.sb.root, lingerDir: c.sb.lingerDir, journalRoot: c.sb.journalRoot, graceMs: 200, retries: 0, handleSignals: false });
      return { n, ...c, rerun };
    });
    for (const r of runs) {
      expect(r.result.signal).toBe('SIGKILL');
      expect(r.rerun.message, `record ${r.n}`).toMatch(r.passedCommitPoint ? /its clean-up was finished first/ : /was found and rolled back first/);
      if (r.passedCommitPoint) expect(r.rerun.status).toBe('refused'); // the user is already gone
      else expect(r.rerun.status, r.rerun.message).toBe('committed');
      expectDestroyed(r.sb, expect);
    }
  }, 60_000);
});
