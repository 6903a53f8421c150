/**
 * @unwind/systemd — systemd units: install, reload, start/stop/enable, wait for active — as undoable steps.
 *
 * Every step reads state from `systemctl show` properties, validates unit
 * names and unit file contents before anything runs, and runs systemctl
 * through core's command runner (argv only, a timeout, an explicit
 * environment).
 *
 * @packageDocumentation
 * @module @unwind/systemd
 */
import { installUnit } from './kinds/install-unit.js';
import { daemonReload } from './kinds/daemon-reload.js';
import { start } from './kinds/start.js';
import { stop } from './kinds/stop.js';
import { restart } from './kinds/restart.js';
import { restartOnRollback } from './kinds/restart-on-rollback.js';
import { enable } from './kinds/enable.js';
import { disable } from './kinds/disable.js';
import { mask } from './kinds/mask.js';
import { startUserManager } from './kinds/start-user-manager.js';

export { installUnit, daemonReload, start, stop, restart, restartOnRollback, enable, disable, mask, startUserManager };
export { unitState, isActive, unitProperties } from './probes.js';
export type { ProbeOptions } from './probes.js';
export { validateUnitName, validateUnitContent, UNIT_SUFFIXES } from './names.js';
export { Scope, ManagerOptions } from './manager.js';
export { UnitState, parseShow } from './state.js';
export { UserNotFoundError, UnitNotActiveError, UnitStateError, UserManagerDependencyError, UserManagerUnreachableError } from './errors.js';

/**
 * Every step kind of @unwind/systemd, for `recover({ kinds })`.
 *
 * @example
 * ```ts
 * import { kinds as systemdKinds } from '@unwind/systemd';
 * await recover({ root: '/var/lib/app/unwind', kinds: [...systemdKinds] });
 * ```
 */
export const kinds = [installUnit, daemonReload, start, stop, restart, restartOnRollback, enable, disable, mask, startUserManager] as const;
