import { CommandFailedError, retrying } from '@unwind/core';
import { systemctl, type ManagerOptions, type Runner } from './manager.js';
import { readUnitState, type UnitState } from './state.js';
import { TRANSIENT_BUS_RETRY } from './transient.js';

/** What `systemctl is-enabled` says on stderr, exit 1, for a unit that has no unit file. */
const NO_UNIT_FILE = /^Failed to get unit file state for .*: No such file or directory$/m;

/**
 * Reads a unit's enablement as it is on disk now: `systemctl is-enabled`,
 * which asks the manager to look at the unit files and their links afresh
 * (GetUnitFileState). `enabled`, `disabled`, `static`, `masked`, ..., or ``
 * when the unit has no unit file, as `systemctl show` reports it.
 *
 * Not the `UnitFileState` property of `systemctl show`: the manager caches
 * that until its next reload. `systemctl enable`/`disable`/`mask` changes the
 * links, then asks for a reload in a second call; one killed between the two
 * leaves the links changed and `show` still reporting the old state, for as
 * long as nothing reloads. An undo that decided on it saw "still enabled"
 * after a killed `disable` and left the unit disabled.
 */
export function readUnitFileState(unit: string, options: ManagerOptions, runner: Runner): Promise<string> {
  // A read: a transient bus error (exit 1, nothing on stdout) is tried again, as showUnit's.
  return retrying(async () => {
    const result = await systemctl(options, runner, ['is-enabled', '--', unit], { okExitCodes: [0, 1] });
    const state = result.stdout.split('\n')[0]!.trim();
    if (state !== '') return state;
    // Exit 1 with nothing on stdout: no unit file, or a failure (no bus, no manager) that must not pass as "no file".
    if (result.exitCode === 1 && NO_UNIT_FILE.test(result.stderr)) return '';
    throw new CommandFailedError(result);
  }, TRANSIENT_BUS_RETRY, runner.signal ? { signal: runner.signal } : {});
}

/**
 * {@link readUnitState} with the unit file state read from disk
 * ({@link readUnitFileState}): what enable, disable and mask decide on.
 */
export async function readEnablementState(unit: string, options: ManagerOptions, runner: Runner): Promise<UnitState> {
  const state = await readUnitState(unit, options, runner);
  return { ...state, unitFileState: await readUnitFileState(unit, options, runner) };
}
