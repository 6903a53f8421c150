import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile } from '@unwind/core';
import { recoverUninstall, uninstall } from '../src/uninstall.js';
import { makeSandbox, pool, runChild, type Sandbox } from './helpers.js';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const sandboxes: Sandbox[] = [];
afterAll(() => sandboxes.forEach((s) => s.remove()));

function sandbox(): Sandbox {
  const s = makeSandbox();
  sandboxes.push(s);
  return s;
}

/** Kills the uninstall after journal record `n`; returns the states around it. */
async function crashAt(n: number, extra: Record<string, unknown> = {}) {
  const s = sandbox();
  const before = s.state();
  const result = await runChild(child, [JSON.stringify({ stateDir: s.stateDir, journalRoot: s.journalRoot, killAtRecord: n, ...extra })]);
  const records = listTransactions(s.journalRoot)[0]?.state?.records ?? [];
  return { s, before, result, passedCommitPoint: records.some((r) => r.kind === 'commit-point') };
}

describe('transactional uninstall: SIGKILL at every journal record, then recover()', () => {
  for (const keepConfig of [false, true]) {
    it(`${keepConfig ? '--keep-config: ' : ''}gives the before-state, or past the commit point the after-state; a second recover changes nothing`, async () => {
      // A clean run in a child tells how many records there are and what "after" looks like.
      const clean = sandbox();
      const done = await runChild(child, [JSON.stringify({ stateDir: clean.stateDir, journalRoot: clean.journalRoot, keepConfig })]);
      expect(done.code, done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).status).toBe('committed');
      const afterState = clean.state();
      const [listing] = listTransactions(clean.journalRoot);
      const count = readJournalFile(listing!.path).records.length;
      expect(count).toBeGreaterThan(keepConfig ? 15 : 20);

      const boundaries = Array.from({ length: count }, (_, i) => i + 1);
      const outcomes = await pool(boundaries, 8, async (n) => {
        const { s, before, result, passedCommitPoint } = await crashAt(n, { keepConfig });
        const report = await recoverUninstall({ journalRoot: s.journalRoot });
        const recovered = s.state();
        const again = await recoverUninstall({ journalRoot: s.journalRoot });
        return { n, s, before, result, passedCommitPoint, report, recovered, again, second: s.state() };
      });
      let passed = 0;
      for (const o of outcomes) {
        expect(o.result.signal, `record ${o.n}: ${o.result.stderr}`).toBe('SIGKILL');
        expect(o.report.ok, `record ${o.n}`).toBe(true);
        expect(o.recovered, `kill after record ${o.n} (commit point ${o.passedCommitPoint ? 'passed' : 'not passed'})`).toEqual(o.passedCommitPoint ? afterState : o.before);
        expect(o.again.transactions.every((t) => t.result === 'already-finished'), `second recover after record ${o.n}`).toBe(true);
        expect(o.second).toEqual(o.recovered);
        if (o.passedCommitPoint) passed++;
      }
      // Both sides of the commit point were hit.
      expect(passed).toBeGreaterThan(0);
      expect(passed).toBeLessThan(count);
    }, 60_000);
  }

  it('running the uninstall again after a kill finishes the job, never half', async () => {
    const clean = sandbox();
    await runChild(child, [JSON.stringify({ stateDir: clean.stateDir, journalRoot: clean.journalRoot })]);
    const count = readJournalFile(listTransactions(clean.journalRoot)[0]!.path).records.length;
    // Early (mid-staging), late (all staged, before the commit point) and after the commit point.
    const picks = [3, Math.floor(count / 2), count - 3];
    const runs = await pool(picks, 3, async (n) => {
      const { s, result, passedCommitPoint } = await crashAt(n);
      const rerun = await uninstall({ stateDir: s.stateDir, journalRoot: s.journalRoot, handleSignals: false });
      return { n, s, result, passedCommitPoint, rerun };
    });
    for (const { n, s, result, passedCommitPoint, rerun } of runs) {
      expect(result.signal).toBe('SIGKILL');
      expect(rerun.message, `record ${n}`).toMatch(passedCommitPoint ? /its deletion was finished first/ : /was found and rolled back first/);
      expect(['committed', 'nothing-to-do']).toContain(rerun.status);
      expect(fs.existsSync(s.stateDir), `record ${n}`).toBe(false);
      expect(fs.readdirSync(join(s.home, 'user'))).toEqual([]);
    }
  }, 60_000);
});
