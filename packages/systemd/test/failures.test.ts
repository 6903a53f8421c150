import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type CommandRunner, type Step } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { daemonReload, disable, enable, installUnit, mask, restart, start, stop, type ManagerOptions } from '../src/index.js';
import { injectingExec, placeUnit, purgeUnit, sleeperUnit, snapshot, sysctl, uniqueUnit, userManager } from './fixture.js';
import { join } from 'node:path';


interface Case {
  name: string;
  /** Sets the unit up; returns the step. */
  arrange: (unit: string, m: ManagerOptions) => Promise<Step<any, any, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  doVerb: string;
  doNth?: number;
  undoVerb: string;
  undoNth?: number;
}

const placed = async (unit: string, m: ManagerOptions) => placeUnit(unit, sleeperUnit(), m.unitDir!);

const cases: Case[] = [
  { name: 'installUnit', arrange: async (unit, m) => installUnit({ ...m, unit, content: sleeperUnit() }), doVerb: 'daemon-reload', undoVerb: 'daemon-reload', undoNth: 2 },
  { name: 'daemonReload', arrange: async (unit, m) => (await placed(unit, m), daemonReload(m)), doVerb: 'daemon-reload', undoVerb: 'daemon-reload', undoNth: 2 },
  { name: 'start', arrange: async (unit, m) => (await placed(unit, m), start({ ...m, unit, settleMs: 200 })), doVerb: 'start', undoVerb: 'stop' },
  {
    name: 'stop',
    arrange: async (unit, m) => {
      await placed(unit, m);
      await sysctl('start', '--', unit);
      return stop({ ...m, unit });
    },
    doVerb: 'stop',
    undoVerb: 'start',
  },
  { name: 'restart', arrange: async (unit, m) => (await placed(unit, m), restart({ ...m, unit, settleMs: 200 })), doVerb: 'restart', undoVerb: 'stop' },
  { name: 'enable', arrange: async (unit, m) => (await placed(unit, m), enable({ ...m, unit })), doVerb: 'enable', undoVerb: 'disable' },
  {
    name: 'disable',
    arrange: async (unit, m) => {
      await placed(unit, m);
      await sysctl('enable', '--', unit);
      return disable({ ...m, unit });
    },
    doVerb: 'disable',
    undoVerb: 'enable',
  },
  {
    name: 'mask',
    arrange: async (unit, m) => (await placeUnit(unit, sleeperUnit(), join(m.home!, '.local/share/systemd/user')), mask({ ...m, unit })),
    doVerb: 'mask',
    undoVerb: 'unmask',
  },
];

function run(exec: CommandRunner, ...steps: Array<Step<any, any, any>>) { // eslint-disable-line @typescript-eslint/no-explicit-any
  const tx = transaction('systemd failure injection', { journal: memoryJournal(), handleSignals: false, exec, retry: { undo: { retries: 0 } } });
  for (const s of steps) tx.add(s);
  return tx.run();
}

describe('failures injected into systemctl calls roll back cleanly', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function arrange(c: Case, mode: 'fail' | 'hang', verb: string, nth: number | undefined) {
    const unit = uniqueUnit(`inject-${c.name.toLowerCase()}`);
    cleanups.push(() => purgeUnit(unit));
    const step = await c.arrange(unit, userManager());
    const injected = injectingExec({ verb, mode, ...(nth ? { nth } : {}) });
    cleanups.push(injected.cleanup);
    return { unit, step, injected, initial: await snapshot(unit) };
  }

  function expectCommandError(error: { name?: string; code?: string; context?: Record<string, unknown> } | undefined, verb: string, mode: 'fail' | 'hang') {
    expect(error).toBeDefined();
    const ctx = error!.context!;
    const argv = ctx.argv as string[];
    expect(argv[0]).toMatch(/unwind-systemd-stub-.*\/systemctl$/);
    expect(argv).toContain(verb);
    expect(argv).toContain('--user');
    if (mode === 'fail') {
      expect(error!.code).toBe('COMMAND_FAILED');
      expect(ctx.exitCode).toBe(3);
      expect(ctx.stderr).toMatch(/injected failure: .*--user/);
    } else {
      expect(error!.code).toBe('COMMAND_TIMEOUT');
      expect(ctx.exitCode).toBeNull();
      expect(ctx.timeoutMs).toBe(400);
      expect(ctx.stderr).toMatch(/hanging: /);
    }
  }

  for (const c of cases) {
    for (const mode of ['fail', 'hang'] as const) {
      it(`${c.name}: do's \`${c.doVerb}\` ${mode === 'fail' ? 'exits 3' : 'hangs past its timeout'} → rolled-back, state as before`, async () => {
        const { unit, step, injected, initial } = await arrange(c, mode, c.doVerb, c.doNth);
        const outcome = await run(injected.exec, step);
        expect(outcome.status).toBe('rolled-back');
        expect(outcome.steps[0]?.status).toBe('undone');
        // A lasting failure or a timeout is never tried again: the transient-bus-error retry (transient-bus.test.ts) lets neither through.
        expect(outcome.steps[0]?.attempts).toBe(1);
        expectCommandError(outcome.steps[0]?.error, c.doVerb, mode);
        expect(await snapshot(unit)).toEqual(initial);
      });

      it(`${c.name}: undo's \`${c.undoVerb}\` ${mode === 'fail' ? 'exits 3' : 'hangs past its timeout'} → rollback-failed, with the command in the report`, async () => {
        const { step, injected } = await arrange(c, mode, c.undoVerb, c.undoNth);
        const outcome = await run(injected.exec, step, failingStep({ message: 'later step fails' }));
        expect(outcome.status).toBe('rollback-failed');
        if (outcome.status !== 'rollback-failed') return;
        expect(outcome.remaining).toContain(0);
        expect(outcome.steps[0]?.status).toBe('undo-failed');
        expectCommandError(outcome.steps[0]?.undo?.error, c.undoVerb, mode);
        expectCommandError(outcome.undoError, c.undoVerb, mode);
      });
    }
  }
});
