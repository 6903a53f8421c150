import { UnwindError, VerificationError, type ErrorContext } from '@unwind/core';

/**
 * A user named in a scope or for `startUserManager` is not in the user database.
 *
 * @example
 * ```ts
 * // UserNotFoundError: user "alice" is not in the user database (getent passwd)
 * ```
 */
export class UserNotFoundError extends UnwindError {
  constructor(user: string) {
    super('USER_NOT_FOUND', `user ${JSON.stringify(user)} is not in the user database (getent passwd)`, { context: { user } });
  }
}

/**
 * A unit that was started is not active once it settled: it failed at once,
 * or exited (a `Type=simple` service whose program ended). The context holds
 * the properties systemd reported (ActiveState, SubState, Result, exit status).
 *
 * @example
 * ```ts
 * if (outcome.status === 'rolled-back' && outcome.cause.name === 'UnitNotActiveError') console.error(outcome.cause.context);
 * ```
 */
export class UnitNotActiveError extends VerificationError {
  constructor(unit: string, context: ErrorContext) {
    super(`unit ${unit} is not active after starting: ActiveState=${String(context.ActiveState)} SubState=${String(context.SubState)} Result=${String(context.Result ?? '?')}${mainProcessEnd(context)}`, { unit, ...context });
  }
}

/** systemd's own exit statuses (systemd.exec(5)) that say a program never ran, the ones met most. */
const SYSTEMD_EXIT_STATUS: Readonly<Record<string, string>> = { '200': 'CHDIR', '203': 'EXEC', '209': 'STDOUT', '217': 'USER', '226': 'NAMESPACE' };

/**
 * How the main process ended, from ExecMainCode (a waitid si_code: 1 exited,
 * 2 killed, 3 dumped core) and ExecMainStatus: "exit-code" alone does not say
 * whether the program failed or systemd could not run it (status 203/EXEC).
 */
function mainProcessEnd(context: ErrorContext): string {
  const status = context.ExecMainStatus === undefined ? '' : String(context.ExecMainStatus);
  if (status === '' || status === '0') return '';
  if (context.ExecMainCode === '1') return `, main process exited with status ${status}${SYSTEMD_EXIT_STATUS[status] ? `/${SYSTEMD_EXIT_STATUS[status]}` : ''}`;
  if (context.ExecMainCode === '2' || context.ExecMainCode === '3') return `, main process killed by signal ${status}`;
  return '';
}

/**
 * `user@UID.service` did not start because a unit it needs failed: its
 * runtime directory (`user-runtime-dir@UID.service`) or its slice. systemctl
 * says only "A dependency job for user@UID.service failed"; the context
 * names each needed unit that is not active, with what systemd reported for
 * it (ActiveState, Result, the exit status of its program), and the
 * message says the same.
 *
 * @example
 * ```ts
 * // UserManagerDependencyError: the service manager of user web (user@1002.service) did not start: a unit it needs failed: user-runtime-dir@1002.service ActiveState=failed Result=exit-code, main process exited with status 1
 * ```
 */
export class UserManagerDependencyError extends UnwindError {
  constructor(user: string, unit: string, failed: Readonly<Record<string, Readonly<Record<string, string>>>>, stderr: string) {
    const named = Object.entries(failed).map(([dependency, p]) => `${dependency} ActiveState=${p.ActiveState ?? '?'} Result=${p.Result ?? '?'}${mainProcessEnd(p)}`);
    super('USER_MANAGER_DEPENDENCY', `the service manager of user ${user} (${unit}) did not start: a unit it needs failed: ${named.length > 0 ? named.join('; ') : `none of its units shows it now (${stderr.trim()})`}`, { context: { user, unit, failed, stderr }, retryable: false });
  }
}

/**
 * A user's service manager did not answer `is-system-running`: systemctl
 * printed `unknown` (its query of the manager's state failed) or `offline`
 * (no manager reachable), usually because the `--machine=USER@` hop to a
 * manager that just started dropped the connection. Transient:
 * `startUserManager` asks again (see `TRANSIENT_BUS_RETRY`) before it
 * fails with this error.
 *
 * @example
 * ```ts
 * // UserManagerUnreachableError: the service manager of user web did not answer is-system-running ("unknown"): Failed to query system state: Transport endpoint is not connected
 * ```
 */
export class UserManagerUnreachableError extends UnwindError {
  constructor(user: string, answer: string, stderr: string) {
    super('USER_MANAGER_UNREACHABLE', `the service manager of user ${user} did not answer is-system-running (${JSON.stringify(answer)})${stderr.trim() ? `: ${stderr.trim()}` : ''}`, { context: { user, answer, stderr }, retryable: true });
  }
}

/**
 * A unit's state read back from systemd is not what the step made it.
 *
 * @example
 * ```ts
 * // UnitStateError: unit app.service: UnitFileState is "disabled", expected "enabled"
 * ```
 */
export class UnitStateError extends VerificationError {
  constructor(unit: string, property: string, actual: string, expected: string) {
    super(`unit ${unit}: ${property} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`, { unit, property, actual, expected });
  }
}
