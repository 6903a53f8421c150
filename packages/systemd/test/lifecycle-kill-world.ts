/**
 * The kill-point world of a unit's whole life on a live manager, the
 * machine's system manager or a real user's manager reached with
 * `--machine=USER@`: install a unit file, daemon-reload, start it, restart a
 * running unit, stop another — optionally after starting the user's manager
 * first. What the world compares is what those steps change: each unit's file,
 * whether the manager has it loaded and whether it runs, and (with the manager
 * start) whether user@UID.service runs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { recover } from '@unwind/core';
import { temporaryDirectory, testKinds, type KillWorld, type RunStepsConfig } from '@unwind/core/testing';
import { kinds, type Scope } from '../src/index.js';
import { sleeperUnit, uniqueUnit } from './fixture.js';

const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const allKinds = [...kinds, ...testKinds];

/** Where the world's units live and how to reach their manager. */
export interface LifecyclePlace {
  scope: Exclude<Scope, 'user'>;
  /** The unit directory of that manager. */
  unitDir: string;
  /** Who owns what the world puts in the unit directory (another user's units). */
  owner?: { uid: number; gid: number };
  /** The user's manager is started by the transaction (systemd.startUserManager) and stopped before each world. */
  startsManager?: { user: string; uid: number };
}

/** What systemctl says when its bus connection dropped (seen through --machine under load): the test's own calls try again. */
const TRANSIENT = /Transport endpoint is not connected|Connection reset by peer|Failed to connect to bus/;

/** `systemctl` for set-up, clean-up and state, aimed at the place's manager; throws on an exit code not allowed. */
export function placeSystemctl(place: Pick<LifecyclePlace, 'scope'>, args: string[], ok: number[] = [0]): string {
  const scope = place.scope === 'system' ? [] : ['--user', `--machine=${place.scope.user}@`];
  for (let attempt = 1; ; attempt++) {
    const result = spawnSync('systemctl', ['--no-ask-password', ...scope, ...args], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
    // Checked before the exit code: `is-enabled` exits 1 both for "disabled" and for a dropped bus (then with nothing on stdout).
    if (attempt < 5 && result.status !== 0 && TRANSIENT.test(result.stderr)) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250 * 2 ** (attempt - 1));
      continue;
    }
    if (ok.includes(result.status ?? -1)) return result.stdout.trim();
    throw new Error(`systemctl ${[...scope, ...args].join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}`);
  }
}

/** Starts a user's manager (user@UID.service) and waits until it has finished starting. */
export function startManagerOf(user: string, uid: number): void {
  placeSystemctl({ scope: 'system' }, ['start', `user@${uid}.service`]);
  placeSystemctl({ scope: { user } }, ['is-system-running', '--wait'], [0, 1]);
}

/** Stops a user's manager and clears the failed state a kill may leave, so that the next world starts from "inactive". */
export function stopManagerOf(uid: number): void {
  placeSystemctl({ scope: 'system' }, ['stop', `user@${uid}.service`], [0, 5]);
  placeSystemctl({ scope: 'system' }, ['reset-failed', `user@${uid}.service`], [0, 1, 5]);
}

/**
 * A fresh world: unit APP (no file yet), RUN and HALT (installed and
 * running; only installed when the transaction starts the manager, which
 * must be down before each world: see stopManagerOf). The transaction: [startUserManager,] installUnit APP,
 * daemonReload, start APP, restartOnRollback RUN, restart RUN, stop HALT (then a failing step when
 * it rolls back).
 */
export function lifecycleWorld(place: LifecyclePlace, rollback: boolean): KillWorld<RunStepsConfig> {
  const base = temporaryDirectory('unwind-systemd-kill-lifecycle-');
  const [app, running, halted] = [uniqueUnit('killapp'), uniqueUnit('killrun'), uniqueUnit('killhalt')] as [string, string, string];
  const units = [app, running, halted];
  for (const unit of [running, halted]) {
    fs.writeFileSync(join(place.unitDir, unit), sleeperUnit(unit));
    if (place.owner) fs.chownSync(join(place.unitDir, unit), place.owner.uid, place.owner.gid);
  }
  // With the manager down (it is the transaction that starts it), RUN and HALT are only files: restart starts RUN, stop finds HALT stopped.
  if (!place.startsManager) {
    placeSystemctl(place, ['daemon-reload']);
    placeSystemctl(place, ['start', '--', running, halted]);
  }
  const journalRoot = join(base.path, 'journal');
  const manager = { scope: place.scope, commandTimeoutMs: 60_000 };
  // Each world's units have names of their own; compared by role, so the counting run's after-state fits every world.
  const byRole = (text: string) => text.replace(app, 'APP.service').replace(running, 'RUN.service').replace(halted, 'HALT.service');
  const managerUnit = place.startsManager ? `user@${place.startsManager.uid}.service` : undefined;
  const managerState = () => (managerUnit ? placeSystemctl({ scope: 'system' }, ['show', '--property=ActiveState', '--value', '--', managerUnit]) : 'not started here');
  return {
    config: {
      name: 'systemd kill points (a unit\'s life)', journalRoot, kindsModule, retention: 'keep', rollback,
      steps: [
        ...(place.startsManager ? [{ type: 'systemd.startUserManager', args: { user: place.startsManager.user } }] : []),
        { type: 'systemd.installUnit', args: { ...manager, unit: app, content: sleeperUnit('the app') } },
        { type: 'systemd.daemonReload', args: manager },
        { type: 'systemd.start', args: { ...manager, unit: app, settleMs: 300 } },
        // Its undo restarts RUN again after the rollback undid the restart (RUN's InvocationID changed): a systemctl of the undo to kill inside.
        { type: 'systemd.restartOnRollback', args: { ...manager, unit: running } },
        { type: 'systemd.restart', args: { ...manager, unit: running, settleMs: 300 } },
        { type: 'systemd.stop', args: { ...manager, unit: halted } },
      ],
    },
    roots: [base.path, place.unitDir],
    journalRoot,
    state: () => {
      const manager = managerState();
      // A user manager that is not running has no units to ask about (and must not be started by asking).
      const ask = manager === 'active' || !managerUnit;
      return {
        manager,
        units: units.map((unit) => {
          const file = join(place.unitDir, unit);
          const content = fs.existsSync(file) ? byRole(fs.readFileSync(file, 'utf8')) : null;
          const state = ask ? placeSystemctl(place, ['show', '--property=LoadState', '--property=ActiveState', '--', unit]).split('\n').sort().join(' ') : 'manager down';
          return `${byRole(unit)}: ${state}; file ${content === null ? 'absent' : JSON.stringify(content)}`;
        }),
      };
    },
    recover: () => recover({ root: journalRoot, kinds: allKinds }),
    cleanup: () => {
      try {
        const up = !managerUnit || managerState() === 'active';
        if (up) placeSystemctl(place, ['stop', '--', ...units], [0, 1, 5]);
        for (const unit of units) fs.rmSync(join(place.unitDir, unit), { force: true });
        if (up) {
          placeSystemctl(place, ['daemon-reload']);
          placeSystemctl(place, ['reset-failed', '--', ...units], [0, 1, 5]);
        }
        if (place.startsManager) stopManagerOf(place.startsManager.uid);
      } finally {
        base.remove();
      }
    },
  };
}
