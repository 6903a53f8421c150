import * as fs from 'node:fs';
import { join } from 'node:path';
import { commandOutput, settled } from './machine-users.js';

/**
 * A user's linger as a machine with systemd sees it: the file logind keeps,
 * logind's own answer, and the user's manager.
 *
 * @example
 * ```ts
 * const lingering: LingerView = { file: true, logind: 'yes', manager: 'active' };
 * const not: LingerView = { file: false, logind: '', manager: 'inactive' };
 * ```
 */
export interface LingerView {
  /** Whether /var/lib/systemd/linger/NAME exists. */
  file: boolean;
  /** `loginctl show-user -p Linger --value NAME`: '' when logind does not track the user at all. */
  logind: string;
  /** `systemctl is-active user@UID.service`. */
  manager: string;
}

function lingerView(name: string, uid: number): LingerView {
  return {
    file: fs.existsSync(join('/var/lib/systemd/linger', name)),
    logind: commandOutput(['loginctl', 'show-user', '-p', 'Linger', '--value', name], [0, 1]),
    manager: commandOutput(['systemctl', 'is-active', `user@${uid}.service`], [0, 3]),
  };
}

/**
 * A user's {@link LingerView} once logind and the manager have acted on the
 * linger file (they act after a command returns): a lingering user's manager
 * active, a user that does not linger untracked with no manager; or, after
 * `withinMs`, whatever it is then, for the test's comparison to show. Only
 * inside the throw-away machine (see `notInsideMachine`).
 *
 * @example
 * ```ts
 * expect(await settledLinger(user)).toEqual({ file: true, logind: 'yes', manager: 'active' });
 * ```
 */
export function settledLinger(user: { readonly name: string; readonly uid: number }, withinMs = 30_000): Promise<LingerView> {
  const consistent = (v: LingerView) => (v.file ? v.logind === 'yes' && v.manager === 'active' : v.logind === '' && v.manager === 'inactive');
  return settled(() => lingerView(user.name, user.uid), consistent, withinMs);
}

/**
 * `loginctl enable-linger NAME`, repeated until logind says the user lingers
 * and its manager runs (within `withinMs`, else it throws). A fresh user can
 * get the uid of one just removed while logind still drops that one
 * ("closing"): an enable-linger taken then is lost, and a test would start
 * from a linger file logind does not know of. Only inside the throw-away
 * machine.
 *
 * @example
 * ```ts
 * const user = machineUser('uwlg');
 * enableLingerSettled(user);
 * expect(await settledLinger(user)).toEqual({ file: true, logind: 'yes', manager: 'active' });
 * ```
 */
export function enableLingerSettled(user: { readonly name: string; readonly uid: number }, withinMs = 60_000): void {
  const until = Date.now() + withinMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    commandOutput(['loginctl', 'enable-linger', user.name]);
    for (let i = 0; i < 25; i++) {
      const view = lingerView(user.name, user.uid);
      if (view.logind === 'yes' && view.manager === 'active') return;
      Atomics.wait(pause, 0, 0, 200);
    }
    if (Date.now() > until) throw new Error(`logind never took ${user.name} as lingering (loginctl enable-linger, ${withinMs} ms)`);
  }
}
