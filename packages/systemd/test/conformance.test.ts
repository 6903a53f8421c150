import * as fs from 'node:fs';
import { join } from 'node:path';
import { conformanceSuite, type ConformanceSandbox } from '@unwind/core/testing';
import { daemonReload, disable, enable, installUnit, mask, restart, restartOnRollback, start, stop, type ManagerOptions } from '../src/index.js';
import { placeUnit, purgeUnit, sleeperUnit, snapshot, sysctl, uniqueUnit, userManager } from './fixture.js';

// Every kind against the real user manager started by global-setup.ts.

/** A sandbox around one fresh unit; `prepareUnit` sets the unit up as the kind needs it. */
function unitSandbox<A>(prefix: string, makeArgs: (unit: string, m: ManagerOptions) => A, prepareUnit?: (unit: string, m: ManagerOptions) => Promise<void>, extra: (unit: string) => Partial<ConformanceSandbox<A>> = () => ({})) {
  return async (): Promise<ConformanceSandbox<A>> => {
    const m = userManager();
    const unit = uniqueUnit(prefix);
    await prepareUnit?.(unit, m);
    return { args: makeArgs(unit, m), state: () => snapshot(unit), cleanup: () => purgeUnit(unit), ...extra(unit) };
  };
}

const configDir = (m: ManagerOptions) => m.unitDir!;
const dataDir = (m: ManagerOptions) => join(m.home!, '.local/share/systemd/user');
const placed = (dir: (m: ManagerOptions) => string) => (unit: string, m: ManagerOptions) => placeUnit(unit, sleeperUnit(), dir(m));

conformanceSuite(installUnit, {
  setup: unitSandbox('install', (unit, m) => ({ ...m, unit, content: sleeperUnit() }), undefined, (unit) => ({
    // What a crash in the middle of `do` leaves: the directories, and a temp file beside the target.
    partialDo: async () => {
      const dir = userManager().unitDir!;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(join(dir, `.#${unit}.unwind-0123456789abcdef`), '[Unit]\n');
    },
  })),
});

conformanceSuite(daemonReload, {
  // A reload of a manager whose unit files are already loaded: nothing the state reads changes.
  setup: unitSandbox('reload', (_unit, m) => m, placed(configDir), () => ({ unchanged: 'the manager already has the unit files loaded; a reload changes nothing it reports' })),
});

conformanceSuite(start, {
  setup: unitSandbox('start', (unit, m) => ({ ...m, unit, settleMs: 200 }), placed(configDir)),
});

conformanceSuite(stop, {
  setup: unitSandbox('stop', (unit, m) => ({ ...m, unit }), async (unit, m) => {
    await placed(configDir)(unit, m);
    await sysctl('start', '--', unit);
  }),
});

conformanceSuite(restart, {
  setup: unitSandbox('restart', (unit, m) => ({ ...m, unit, settleMs: 200 }), placed(configDir)),
});

conformanceSuite(restartOnRollback, {
  setup: unitSandbox('restartback', (unit, m) => ({ ...m, unit }), async (unit, m) => {
    await placed(configDir)(unit, m);
    await sysctl('start', '--', unit);
  }, () => ({ unchanged: 'its do changes nothing; only its undo acts, after the later steps of a transaction' })),
});

conformanceSuite(enable, {
  setup: unitSandbox('enable', (unit, m) => ({ ...m, unit }), placed(configDir)),
});

conformanceSuite(disable, {
  setup: unitSandbox('disable', (unit, m) => ({ ...m, unit }), async (unit, m) => {
    await placed(configDir)(unit, m);
    await sysctl('enable', '--', unit);
  }),
});

conformanceSuite(mask, {
  // systemd masks in the config directory, so the unit's own file lives in the data directory.
  setup: unitSandbox('mask', (unit, m) => ({ ...m, unit }), placed(dataDir)),
});
