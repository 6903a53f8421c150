import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile, recover } from '@unwind/core';
import { runTypeScript, testKinds, type ChildOutcome } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { placeUnit, purgeUnit, sleeperUnit, snapshot, sysctl, uniqueUnit, userManager } from './fixture.js';

const repoRoot = resolve(import.meta.dirname, '../../..');
const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');

function runChild(config: Record<string, unknown>): Promise<ChildOutcome> {
  return runTypeScript(child, [JSON.stringify(config)], { cwd: repoRoot, stdout: 'ignore', killAfterMs: 60_000 });
}

describe('crash recovery of systemd steps (SIGKILL in a child, then recover())', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function crashAndRecover(extra: Record<string, unknown>, arrange?: (unit: string) => Promise<void>) {
    const unit = uniqueUnit('crash');
    const base = fs.mkdtempSync(join(tmpdir(), 'unwind-systemd-crash-'));
    cleanups.push(() => fs.rmSync(base, { recursive: true, force: true }), () => purgeUnit(unit));
    await arrange?.(unit);
    const root = join(base, 'journal');
    const before = await snapshot(unit);
    const result = await runChild({ root, unit, content: sleeperUnit(), manager: userManager(), ...extra });
    const records = listTransactions(root)[0]?.state?.records ?? [];
    const passedCommitPoint = records.some((r) => r.kind === 'commit-point');
    const report = await recover({ root, kinds: [...kinds, ...testKinds] });
    return { unit, root, before, result, report, passedCommitPoint, state: await snapshot(unit), recordCount: records.length };
  }

  let recordCount = 0;
  it('a clean run commits: installed, enabled, active', async () => {
    const { result, state, unit, root } = await crashAndRecover({});
    expect(result.code, result.stderr).toBe(0);
    expect(state).toMatchObject({ state: { loadState: 'loaded', activeState: 'active', unitFileState: 'enabled' } });
    recordCount = readJournalFile(listTransactions(root)[0]!.path).records.length;
    expect(recordCount).toBeGreaterThan(6);
    expect(fs.existsSync(join(userManager().unitDir!, unit))).toBe(true);
  });

  it('a kill after every journal record, then recover(), leaves the before-state (or the after-state past the commit point)', async () => {
    expect(recordCount).toBeGreaterThan(0);
    for (let n = 1; n <= recordCount; n++) {
      const { result, report, passedCommitPoint, before, state } = await crashAndRecover({ killAtRecord: n });
      expect(result.signal, `record ${n}: ${result.stderr}`).toBe('SIGKILL');
      expect(report.ok, `record ${n}`).toBe(true);
      if (passedCommitPoint) expect(state, `record ${n}`).toMatchObject({ state: { activeState: 'active', unitFileState: 'enabled' } });
      else expect(state, `kill at record ${n}`).toEqual(before);
    }
  }, 300_000);

  it.each([
    ['inside installUnit do, after its daemon-reload', { verb: 'daemon-reload' }],
    ['inside enable do, after systemctl enable', { verb: 'enable' }],
    ['inside start do, after systemctl start', { verb: 'start' }],
  ])('a kill %s, then recover(), leaves the before-state', async (_what, killOn) => {
    const { result, report, before, state } = await crashAndRecover({ killOn });
    expect(result.signal, result.stderr).toBe('SIGKILL');
    expect(report.transactions[0]?.result).toBe('rolled-back');
    expect(state).toEqual(before);
  });

  it.each([
    ['inside start undo, after systemctl stop', { verb: 'stop' }],
    ['inside enable undo, after systemctl disable', { verb: 'disable' }],
    ['inside installUnit undo, after its daemon-reload', { verb: 'daemon-reload', nth: 2 }],
  ])('a kill %s during a rollback, then recover(), leaves the before-state', async (_what, killOn) => {
    const { result, report, before, state } = await crashAndRecover({ killOn, failAtEnd: true });
    expect(result.signal, result.stderr).toBe('SIGKILL');
    expect(report.transactions[0]?.result, JSON.stringify(report)).toBe('rolled-back');
    expect(state).toEqual(before);
  });

  // systemctl enable/disable changes the links, then asks for a reload in a second call; the manager's
  // cached UnitFileState follows only the reload. A kill between the two, then recover(): the undo must
  // decide on the links, not on that cached state.
  it('a kill inside `systemctl enable` (links made, no reload yet), then recover(), leaves the before-state', async () => {
    const { result, report, before, state } = await crashAndRecover({ killInside: { verb: 'enable' } });
    expect(result.signal, result.stderr).toBe('SIGKILL');
    expect(report.transactions[0]?.result).toBe('rolled-back');
    expect(state).toEqual(before);
  });

  it('a kill inside `systemctl disable` of an enabled, running unit (links removed, no reload yet), then recover(): enabled and running again', async () => {
    const running = async (unit: string) => {
      await placeUnit(unit, sleeperUnit(), userManager().unitDir!);
      await sysctl('enable', '--now', '--', unit);
    };
    const { result, report, before, state } = await crashAndRecover({ plan: 'uninstall', killInside: { verb: 'disable' } }, running);
    expect(result.signal, result.stderr).toBe('SIGKILL');
    expect(before).toMatchObject({ state: { activeState: 'active', unitFileState: 'enabled' } });
    expect(report.transactions[0]?.result).toBe('rolled-back');
    expect(state).toEqual(before);
  });
});
