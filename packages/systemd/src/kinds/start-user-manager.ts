import * as t from 'io-ts';
import { CommandError, defineStep, InvalidInputError, UntrustedJournalError, validateTimerMs } from '@unwind/core';
import { UnitNotActiveError, UserManagerDependencyError, UserManagerUnreachableError } from '../errors.js';
import { lookupUser, systemctl, validateUserName, type ManagerOptions } from '../manager.js';
import { isUp, readUnitState, restoreActiveState, showUnit, UnitState } from '../state.js';
import { TRANSIENT_BUS_RETRY } from '../transient.js';
import { runnerOf } from './common.js';

const Args = t.intersection([
  t.type({ user: t.string }),
  t.partial({
    /** How long the start (and the wait for the manager to finish starting) may take, ms. Default 60 000. */
    timeoutMs: t.number,
    /** The systemctl program. Default `systemctl`. */
    systemctl: t.string,
  }),
]);

const Before = t.type({ uid: t.number, unit: t.string, state: UnitState });

/** The highest uid there is: 2^32-2 (2^32-1 is the kernel's "no uid"). */
const MAX_UID = 4294967294;

/**
 * Recovery's check of a journaled before-state: the uid is one (a whole
 * number in 0..2^32-2) and the unit is that uid's user manager,
 * `user@UID.service`. The undo stops or starts `before.unit` on the system
 * manager; without this a forged journal could make recovery stop sshd or
 * start any other system unit.
 */
function validateJournaledManager(a: t.TypeOf<typeof Args>, before: t.TypeOf<typeof Before>): void {
  const bad = (why: string) => new UntrustedJournalError(`systemd.startUserManager ${a.user}: ${why}`, { user: a.user, unit: before.unit, uid: before.uid });
  if (!Number.isSafeInteger(before.uid) || before.uid < 0 || before.uid > MAX_UID) throw bad(`the journaled uid ${before.uid} is not a uid`);
  if (before.unit !== `user@${before.uid}.service`) throw bad(`the journaled unit ${JSON.stringify(before.unit)} is not user@${before.uid}.service, the manager of uid ${before.uid}`);
}

/** The units user@UID.service needs (Requires=, and its Slice=): systemd names none of them when one fails. */
const needed = (uid: number) => [`user-runtime-dir@${uid}.service`, `user-${uid}.slice`];

/**
 * A start that failed on "A dependency job … failed" as
 * UserManagerDependencyError, with what systemd reports for each needed
 * unit that is not active; any other error as it was.
 */
async function withFailedDependencies(error: unknown, a: t.TypeOf<typeof Args>, uid: number, runner: ReturnType<typeof runnerOf>): Promise<unknown> {
  const stderr = error instanceof CommandError ? (error.result?.stderr ?? '') : '';
  if (!/dependency job/i.test(stderr)) return error;
  const failed: Record<string, Record<string, string>> = {};
  for (const unit of needed(uid)) {
    const p = await showUnit(unit, ['ActiveState', 'Result', 'ExecMainCode', 'ExecMainStatus'], system(a), runner).catch(() => undefined);
    if (p && p.ActiveState !== 'active') failed[unit] = p;
  }
  return new UserManagerDependencyError(a.user, `user@${uid}.service`, failed, stderr);
}

/** The system manager, through which user@UID.service is started. */
const system = (a: t.TypeOf<typeof Args>): ManagerOptions => ({ scope: 'system', ...(a.systemctl ? { systemctl: a.systemctl } : {}), commandTimeoutMs: a.timeoutMs ?? 60_000 });

/**
 * Starts a user's service manager (`systemctl start user@UID.service` on the
 * system manager, which blocks until the manager reports it started),
 * then waits for the manager to finish its own start-up
 * (`systemctl --user --machine=USER@ is-system-running --wait`). Both are
 * bounded by `timeoutMs`; there is no polling loop. Put it before any step
 * with `scope: { user }`. Undo stops the manager again if it was not
 * running before. Recovery acts only on a journal whose unit is
 * `user@UID.service` for the journaled uid.
 *
 * Both commands are safe to repeat, so a transient bus error, or a manager
 * that does not answer `is-system-running` (`unknown`: the `--machine=USER@`
 * hop dropped the connection), is tried again by default, up to 4 times
 * with backoff (`TRANSIENT_BUS_RETRY`); then the step fails with
 * `UserManagerUnreachableError`. A step's own `retry.do` replaces this.
 * A start refused because a unit the manager needs failed (systemctl says
 * only "A dependency job … failed") is `UserManagerDependencyError`, which
 * names that unit and what systemd reported for it.
 *
 * @example
 * ```ts
 * tx.add(startUserManager({ user: 'alice' }));
 * tx.add(installUnit({ unit: 'sync.service', scope: { user: 'alice' }, content }));
 * tx.add(start({ unit: 'sync.service', scope: { user: 'alice' } }));
 * ```
 */
export const startUserManager = defineStep({
  type: 'systemd.startUserManager',
  package: '@unwind/systemd',
  args: Args,
  before: Before,
  validate: (a) => {
    validateUserName(a.user);
    if (a.timeoutMs !== undefined && !(a.timeoutMs > 0)) throw new InvalidInputError('timeoutMs must be positive', { timeoutMs: a.timeoutMs });
    validateTimerMs(a.timeoutMs, 'timeoutMs');
    if (a.systemctl !== undefined && !/^[^\0\s-][^\0\s]*$/.test(a.systemctl)) throw new InvalidInputError('systemctl must be a plain program path', {});
  },
  describe: (a) => `start the service manager of user ${a.user}`,
  retry: { do: TRANSIENT_BUS_RETRY },
  prepare: async (a, ctx) => {
    const { uid } = await lookupUser(a.user, runnerOf(ctx));
    const unit = `user@${uid}.service`;
    return { uid, unit, state: await readUnitState(unit, system(a), runnerOf(ctx)) };
  },
  do: async (a, before, ctx) => {
    const runner = runnerOf(ctx);
    if (!isUp(before.state.activeState)) {
      try {
        await systemctl(system(a), runner, ['start', '--', before.unit]);
      } catch (error) {
        throw await withFailedDependencies(error, a, before.uid, runner);
      }
    }
    // "degraded" (exit 1) is a running manager with a failed unit: reachable, which is what matters here.
    const res = await systemctl({ ...system(a), scope: { user: a.user } }, runner, ['is-system-running', '--wait'], { okExitCodes: [0, 1] });
    const answer = res.stdout.trim();
    if (answer === 'unknown' || answer === 'offline' || answer === '') throw new UserManagerUnreachableError(a.user, answer, res.stderr);
    if (answer !== 'running' && answer !== 'degraded') throw new UnitNotActiveError(before.unit, { ActiveState: answer, SubState: 'is-system-running', stderr: res.stderr });
  },
  verify: async (a, before, _after, ctx) => {
    const now = await readUnitState(before.unit, system(a), runnerOf(ctx));
    if (now.activeState !== 'active') throw new UnitNotActiveError(before.unit, { ActiveState: now.activeState, SubState: now.subState });
  },
  validateJournaled: validateJournaledManager,
  undo: (a, before, _after, ctx) => restoreActiveState(before.unit, before.state, system(a), runnerOf(ctx)),
});
