import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile } from '@unwind/core';
import { checkLock } from '../src/check-lock.js';
import { recoverUpdate, update } from '../src/update.js';
import { makeSandbox, pool, runChild, type Sandbox } from './helpers.js';

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const sandboxes: Sandbox[] = [];
afterAll(() => sandboxes.forEach((s) => s.remove()));

function sandbox(): Sandbox {
  const s = makeSandbox();
  sandboxes.push(s);
  return s;
}

// One fixed time, so the after-states of separate runs are byte-for-byte equal.
const NOW = '2025-11-15T10:00:00.000Z';
const configOf = (s: Sandbox, extra: Record<string, unknown> = {}) => JSON.stringify({ collection: s.collection, source: s.source, journalRoot: s.journalRoot, workspaceRoot: s.workspaceRoot, now: NOW, ...extra });

describe('collection update: SIGKILL at every journal record, then recover()', () => {
  for (const store of [false, true]) {
    it(`${store ? 'snapshots in a store: ' : ''}gives the before-state, or past the commit point the after-state; the lock holds; no workspace is left`, async () => {
      const clean = sandbox();
      const extra = (s: Sandbox) => (store ? { snapshotStore: join(s.base, 'snapshots') } : {});
      const done = await runChild(child, [configOf(clean, extra(clean))]);
      expect(done.code, done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).status).toBe('committed');
      const afterState = clean.state();
      const count = readJournalFile(listTransactions(clean.journalRoot)[0]!.path).records.length;
      expect(count).toBeGreaterThan(25);

      const runs = await pool(Array.from({ length: count }, (_, i) => i + 1), 8, async (n) => {
        const s = sandbox();
        const before = s.state();
        const result = await runChild(child, [configOf(s, { killAtRecord: n, ...extra(s) })]);
        const records = listTransactions(s.journalRoot)[0]?.state?.records ?? [];
        const report = await recoverUpdate({ journalRoot: s.journalRoot });
        const recovered = s.state();
        const again = await recoverUpdate({ journalRoot: s.journalRoot });
        return { n, s, before, result, passed: records.some((r) => r.kind === 'commit-point'), report, recovered, again };
      });
      let passed = 0;
      for (const r of runs) {
        expect(r.result.signal, `record ${r.n}: ${r.result.stderr}`).toBe('SIGKILL');
        expect(r.report.ok, `record ${r.n}`).toBe(true);
        expect(r.recovered, `kill after record ${r.n} (commit point ${r.passed ? 'passed' : 'not passed'})`).toEqual(r.passed ? afterState : r.before);
        expect(checkLock(r.s.collection), `lock after record ${r.n}`).toEqual([]);
        expect(fs.readdirSync(r.s.workspaceRoot), `workspace after record ${r.n}`).toEqual([]);
        expect(r.again.transactions.every((t) => t.result === 'already-finished')).toBe(true);
        expect(r.s.state()).toEqual(r.recovered);
        if (r.passed) passed++;
      }
      expect(passed).toBeGreaterThan(0);
      expect(passed).toBeLessThan(count);
    }, 60_000);
  }

  it('running the update again after a kill recovers first, then updates: never half', async () => {
    const clean = sandbox();
    await runChild(child, [configOf(clean)]);
    const count = readJournalFile(listTransactions(clean.journalRoot)[0]!.path).records.length;
    const picks = [4, Math.floor(count / 2), count - 2];
    const runs = await pool(picks, 3, async (n) => {
      const s = sandbox();
      const result = await runChild(child, [configOf(s, { killAtRecord: n })]);
      const rerun = await update({ collectionDir: s.collection, source: s.source, journalRoot: s.journalRoot, workspaceRoot: s.workspaceRoot, now: new Date(NOW), handleSignals: false });
      return { n, s, result, rerun };
    });
    for (const { n, s, result, rerun } of runs) {
      expect(result.signal).toBe('SIGKILL');
      expect(rerun.message, `record ${n}`).toMatch(/An interrupted update .* (rolled back|clean-up was finished) first/);
      expect(['committed', 'up-to-date']).toContain(rerun.status);
      expect(s.state()).toEqual(clean.state());
      expect(checkLock(s.collection)).toEqual([]);
    }
  }, 60_000);
});
