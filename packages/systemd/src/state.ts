import { setTimeout as sleep } from 'node:timers/promises';
import * as t from 'io-ts';
import { retrying } from '@unwind/core';
import { UnitNotActiveError, UnitStateError } from './errors.js';
import { systemctl, type ManagerOptions, type Runner } from './manager.js';
import { TRANSIENT_BUS_RETRY } from './transient.js';

/**
 * The four properties that say where a unit stands, as `systemctl show` reports them.
 *
 * @example
 * ```ts
 * const s: UnitState = await unitState('app.service');
 * // { loadState: 'loaded', activeState: 'active', subState: 'running', unitFileState: 'enabled' }
 * ```
 */
export const UnitState = t.type({
  /** `loaded`, `not-found`, `masked`, `bad-setting`, `error`. */
  loadState: t.string,
  /** `active`, `inactive`, `failed`, `activating`, `deactivating`, `reloading`. */
  activeState: t.string,
  /** Type-specific detail: `running`, `dead`, `exited`, `auto-restart`, ... */
  subState: t.string,
  /** `enabled`, `disabled`, `static`, `masked`, `indirect`, ... or `` when there is no unit file. */
  unitFileState: t.string,
});
/** See {@link UnitState}. @example `if ((await unitState('a.service')).activeState === 'failed') alert();` */
export type UnitState = t.TypeOf<typeof UnitState>;

const STATE_PROPERTIES = ['LoadState', 'ActiveState', 'SubState', 'UnitFileState'];
/** Extra properties that explain why a unit is not running, put into errors. */
const WHY_PROPERTIES = ['Result', 'ExecMainCode', 'ExecMainStatus', 'NRestarts'];

/**
 * Parses `systemctl show` output (`Key=Value` lines; the first `=` splits).
 * Key=value form rather than `--value`: with `--value` systemd prints values
 * in its own property order, not the order asked for.
 *
 * @example
 * ```ts
 * parseShow('ActiveState=active\nUnitFileState=\n'); // { ActiveState: 'active', UnitFileState: '' }
 * ```
 */
export function parseShow(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * Reads properties of one unit with `systemctl show -p A,B,... -- UNIT`. A
 * read changes nothing, so a transient bus error is tried again
 * (`TRANSIENT_BUS_RETRY`, daemonReload's policy): a prepare, which has no
 * retry of its own, must not fail its transaction on a dropped connection.
 */
export async function showUnit(unit: string, properties: string[], options: ManagerOptions, runner: Runner): Promise<Record<string, string>> {
  const result = await retrying(() => systemctl(options, runner, ['show', '-p', properties.join(','), '--', unit]), TRANSIENT_BUS_RETRY, runner.signal ? { signal: runner.signal } : {});
  return parseShow(result.stdout);
}

/**
 * Reads properties of one unit (LoadState among them) that a step decides
 * on. systemd names a LoadState for every unit name, `not-found` included,
 * so an answer without one is not a state: it is read again (twice, 250 ms
 * apart), then refused with UnitStateError. An empty answer must never pass
 * for "not enabled" or "not running".
 */
export async function showStateOf(unit: string, properties: readonly string[], options: ManagerOptions, runner: Runner): Promise<Record<string, string>> {
  const asked = properties.includes('LoadState') ? [...properties] : ['LoadState', ...properties];
  for (let attempt = 1; ; attempt++) {
    const p = await showUnit(unit, asked, options, runner);
    if (p.LoadState) return p;
    if (attempt === 3) throw new UnitStateError(unit, 'LoadState', '', 'a LoadState (systemctl show printed none, three times)');
    await sleep(250, undefined, runner.signal ? { signal: runner.signal } : {});
  }
}

/** Reads a unit's {@link UnitState} (see {@link showStateOf}). Steps decide from it what to change and what their undo puts back. */
export async function readUnitState(unit: string, options: ManagerOptions, runner: Runner): Promise<UnitState> {
  const p = await showStateOf(unit, STATE_PROPERTIES, options, runner);
  return { loadState: p.LoadState!, activeState: p.ActiveState ?? '', subState: p.SubState ?? '', unitFileState: p.UnitFileState ?? '' };
}

/** Running, or on its way there: what "it was up before" means for undo. */
export function isUp(activeState: string): boolean {
  return activeState === 'active' || activeState === 'reloading' || activeState === 'activating';
}

/** The unit file state is one of the enabled forms. */
export function isEnabled(unitFileState: string): boolean {
  return unitFileState === 'enabled' || unitFileState === 'enabled-runtime';
}

/** The unit is masked (persistently or for this boot). */
export function isMasked(unitFileState: string): boolean {
  return unitFileState === 'masked' || unitFileState === 'masked-runtime';
}

/**
 * Waits `settleMs`, then reads the unit again: it must be `active` (or
 * reloading). `systemctl start` returns 0 for a `Type=simple` service whose
 * program dies a moment later; only a second look catches that.
 */
export async function expectActiveAfterSettle(unit: string, settleMs: number, options: ManagerOptions, runner: Runner): Promise<void> {
  if (settleMs > 0) await sleep(settleMs, undefined, runner.signal ? { signal: runner.signal } : {});
  const p = await showUnit(unit, [...STATE_PROPERTIES, ...WHY_PROPERTIES], options, runner);
  if (p.ActiveState !== 'active' && p.ActiveState !== 'reloading') throw new UnitNotActiveError(unit, { ...p, settleMs });
}

/**
 * Brings a unit back to whether it was up in `before`: starts it if it was up
 * and is not, stops it if it was down and is up, and clears a `failed` state
 * the step caused (`reset-failed`), so `inactive` comes back as `inactive`.
 * Idempotent: it looks before it acts. A job still queued for the unit
 * counts as not being there yet: the unit shows its old state until the job
 * runs — a stop queued behind another unit's slow stop shows `active` — and
 * the job, once it runs, would undo what this put back. So with a job
 * pending the verb goes out whatever the state reads, and replaces that job
 * (systemctl's default job mode). Such a job is what a run killed inside its
 * own `systemctl` leaves behind: the manager had the request, the caller died.
 */
export async function restoreActiveState(unit: string, before: UnitState, options: ManagerOptions, runner: Runner): Promise<void> {
  const p = await showStateOf(unit, [...STATE_PROPERTIES, 'Job'], options, runner);
  // `Job=N` while a job is queued or running, nothing (or `Job=`) when none is.
  const pending = Number(p.Job) > 0;
  const activeState = p.ActiveState ?? '';
  if (isUp(before.activeState)) {
    if (!isUp(activeState) || pending) await systemctl(options, runner, ['start', '--', unit]);
    return;
  }
  let now = activeState;
  if (isUp(activeState) || activeState === 'deactivating' || pending) {
    await systemctl(options, runner, ['stop', '--', unit]);
    now = (await readUnitState(unit, options, runner)).activeState;
  }
  if (now === 'failed' && before.activeState !== 'failed') await systemctl(options, runner, ['reset-failed', '--', unit]);
}
