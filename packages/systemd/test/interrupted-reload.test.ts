import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandFailedError, memoryJournal, runCommand, transaction, type CommandRunner, type Step } from '@unwind/core';
import { disable, enable, mask, type ManagerOptions } from '../src/index.js';
import { placeUnit, purgeUnit, sleeperUnit, snapshot, sysctl, uniqueUnit, userManager } from './fixture.js';

/**
 * `systemctl enable`, `disable` and `mask` make two calls to the manager:
 * change the links, then reload. These runs stop the call right between the
 * two (the same call with --no-reload, then it "dies") and check that the
 * rollback puts the links back. After a `disable` stopped there, the
 * manager's cached UnitFileState (what `systemctl show` reports) still says
 * `enabled` until something reloads; an undo that decided on it saw nothing
 * to undo and left the unit disabled. (systemd 252 updates the property at
 * once after `enable` and `mask`; the undo reads the disk for them too.)
 */
function diesBeforeItsReload(verb: string, unit: string): { exec: CommandRunner; seen: Array<{ shown: string; onDisk: string }> } {
  const seen: Array<{ shown: string; onDisk: string }> = [];
  const exec: CommandRunner = async (spec) => {
    const at = spec.argv.indexOf(verb);
    if (at > 0 && seen.length === 0) {
      const result = await runCommand({ ...spec, argv: [...spec.argv.slice(0, at), '--no-reload', ...spec.argv.slice(at)] });
      seen.push({ shown: (await sysctl('show', '-p', 'UnitFileState', '--', unit)).trim(), onDisk: (await sysctl('is-enabled', '--', unit)).trim() });
      throw new CommandFailedError({ ...result, exitCode: null, signal: 'SIGKILL' });
    }
    return runCommand(spec);
  };
  return { exec, seen };
}

interface Case {
  verb: string;
  /** The manager's property stays as before the call until a reload (the case an undo reading it got wrong). */
  staleUntilReload: boolean;
  /** Sets the unit up (and reads its state once, so the manager has it cached); returns the step. */
  arrange: (unit: string, m: ManagerOptions) => Promise<Step<any, any, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const cases: Case[] = [
  { verb: 'enable', staleUntilReload: false, arrange: async (unit, m) => (await placeUnit(unit, sleeperUnit(), m.unitDir!), enable({ ...m, unit })) },
  {
    verb: 'disable',
    staleUntilReload: true,
    arrange: async (unit, m) => {
      await placeUnit(unit, sleeperUnit(), m.unitDir!);
      await sysctl('enable', '--', unit);
      return disable({ ...m, unit });
    },
  },
  { verb: 'mask', staleUntilReload: false, arrange: async (unit, m) => (await placeUnit(unit, sleeperUnit(), join(m.home!, '.local/share/systemd/user')), mask({ ...m, unit })) },
];

describe('a systemctl that dies between its change of the links and its reload is rolled back', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  for (const c of cases) {
    it(`${c.verb}: the links it made or removed are put back${c.staleUntilReload ? ', though the manager still reports the old state' : ''}`, async () => {
      const unit = uniqueUnit(`interrupted-${c.verb}`);
      cleanups.push(() => purgeUnit(unit));
      const step = await c.arrange(unit, userManager());
      const cachedBefore = (await sysctl('show', '-p', 'UnitFileState', '--', unit)).trim();
      const initial = await snapshot(unit);
      const { exec, seen } = diesBeforeItsReload(c.verb, unit);
      const tx = transaction(`interrupted ${c.verb}`, { journal: memoryJournal(), handleSignals: false, exec, retry: { do: { retries: 0 }, undo: { retries: 0 } } });
      tx.add(step);
      const outcome = await tx.run();
      // Right after the interrupted call the links had changed (and, for disable, the manager's property had not).
      expect(seen).toHaveLength(1);
      expect(seen[0]!.onDisk).not.toBe(cachedBefore.replace('UnitFileState=', ''));
      if (c.staleUntilReload) expect(seen[0]!.shown).toBe(cachedBefore);
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.steps[0]?.status).toBe('undone');
      expect(await snapshot(unit)).toEqual(initial);
      expect((await sysctl('show', '-p', 'UnitFileState', '--', unit)).trim()).toBe(cachedBefore);
    });
  }
});
