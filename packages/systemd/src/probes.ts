import { runCommand, type CommandRunner } from '@unwind/core';
import { validateManagerOptions, type ManagerOptions, type Scope } from './manager.js';
import { validateUnitName } from './names.js';
import { readUnitState, showUnit, type UnitState } from './state.js';

/**
 * Options of the probes: how to reach the manager, and optionally another command runner.
 *
 * @example
 * ```ts
 * await isActive('sync.service', 'user', { runtimeDir: '/run/user/1000', commandTimeoutMs: 5000 });
 * ```
 */
export interface ProbeOptions extends Omit<ManagerOptions, 'scope'> {
  /** Program runner. Default core's `runCommand`. */
  exec?: CommandRunner;
  signal?: AbortSignal;
}

function managerOf(scope: Scope | undefined, options: ProbeOptions): ManagerOptions {
  const { exec: _exec, signal: _signal, ...rest } = options;
  const manager: ManagerOptions = { ...rest, scope: scope ?? 'system' };
  validateManagerOptions(manager);
  return manager;
}

/**
 * Reads a unit's LoadState, ActiveState, SubState and UnitFileState from
 * `systemctl show` — the properties, not an exit code. Read-only.
 * UnitFileState is the manager's own value, which it refreshes at a reload:
 * after a `systemctl disable` interrupted between its change of the links
 * and its reload it still says `enabled` (`systemctl is-enabled` reads the
 * links; the enable, disable and mask steps decide on that). A transient
 * bus error ("Transport endpoint is not connected", ...) is tried again, up
 * to 4 more times with backoff, as by every step's reads.
 *
 * @example
 * ```ts
 * const s = await unitState('app.service');                 // system manager
 * const u = await unitState('sync.service', { user: 'alice' });
 * if (s.activeState === 'failed') console.error('app failed');
 * ```
 */
export async function unitState(unit: string, scope?: Scope, options: ProbeOptions = {}): Promise<UnitState> {
  validateUnitName(unit);
  return readUnitState(unit, managerOf(scope, options), { exec: options.exec ?? runCommand, ...(options.signal ? { signal: options.signal } : {}) });
}

/**
 * Whether a unit's ActiveState is `active` (or `reloading`). Read-only.
 *
 * @example
 * ```ts
 * if (!(await isActive('app.service'))) console.warn('app is down');
 * ```
 */
export async function isActive(unit: string, scope?: Scope, options: ProbeOptions = {}): Promise<boolean> {
  const { activeState } = await unitState(unit, scope, options);
  return activeState === 'active' || activeState === 'reloading';
}

/**
 * Reads the named properties of a unit from `systemctl show` (`Key=Value`), as
 * a record; a property systemd does not name is absent. Read-only. For what
 * {@link unitState} does not hold, e.g. `InvocationID`, which changes at every
 * start: whether a unit was started again since an earlier read.
 *
 * @example
 * ```ts
 * const { InvocationID, MainPID } = await unitProperties('web.service', ['InvocationID', 'MainPID'], { user: 'web' });
 * ```
 */
export async function unitProperties(unit: string, properties: readonly string[], scope?: Scope, options: ProbeOptions = {}): Promise<Record<string, string>> {
  validateUnitName(unit);
  return showUnit(unit, [...properties], managerOf(scope, options), { exec: options.exec ?? runCommand, ...(options.signal ? { signal: options.signal } : {}) });
}
