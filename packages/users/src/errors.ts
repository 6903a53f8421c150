import { CommandError, UnwindError, type CommandResult, type ErrorContext } from '@unwind/core';

/**
 * A user that must never be removed or changed destructively: root, an
 * account below UID_MIN (login.defs), or a name on the caller's deny list.
 * Raised before anything is touched; never retried.
 *
 * @example
 * ```ts
 * if (outcome.status === 'refused' && outcome.cause.code === 'PROTECTED_USER') console.error(outcome.cause.message);
 * ```
 */
export class ProtectedUserError extends UnwindError {
  constructor(name: string, reason: string, context: ErrorContext = {}) {
    super('PROTECTED_USER', `user "${name}" is protected (${reason}); unwind never removes or changes it`, { context: { name, reason, ...context }, retryable: false });
  }
}

/**
 * The user still has running processes (userdel exit 8, or processes that
 * survived TERM and KILL). Retryable: the step stops the processes again.
 *
 * @example
 * ```ts
 * runCommand({ argv: ['userdel', name], mapError: (r) => (r.exitCode === 8 ? new UserBusyError(name, r) : undefined) });
 * ```
 */
export class UserBusyError extends CommandError {
  constructor(name: string, result: CommandResult | undefined, context: ErrorContext = {}) {
    super('USER_BUSY', `user "${name}" is still in use by running processes`, result, { retryable: true, context: { name, ...context } });
  }
}

/**
 * The system disagrees with the request in a way unwind will not force:
 * e.g. the user exists with another uid (renumbering would orphan files).
 *
 * @example
 * ```ts
 * // UserConflictError: user "app" exists with uid 1001, not 1500; unwind does not renumber accounts
 * ```
 */
export class UserConflictError extends UnwindError {
  constructor(message: string, context: ErrorContext = {}) {
    super('USER_CONFLICT', message, { context, retryable: false });
  }
}

/**
 * A user or group database file stayed locked by another program (its
 * `<file>.lock` held by a live process).
 *
 * @example
 * ```ts
 * // ShadowLockError: /etc/passwd is locked by pid 4242
 * ```
 */
export class ShadowLockError extends UnwindError {
  constructor(path: string, holder: string) {
    super('SHADOW_LOCKED', `${path} is locked by ${holder}`, { context: { path, holder }, retryable: true });
  }
}

/**
 * A home directory unwind will not move aside or delete: not a proper
 * subdirectory of the home base, a `..` segment, `/` or the base itself,
 * another account's home or a parent of one (also where that home really
 * leads, through symlinks), a symlink, not owned by the user, or in a
 * directory someone other than root can change (another user's home). Nothing
 * was touched.
 *
 * @example
 * ```ts
 * // UnsafeHomeError: home /home of "app" is not a proper subdirectory of the home base /home; not removed
 * ```
 */
export class UnsafeHomeError extends UnwindError {
  constructor(name: string, home: string, reason: string) {
    super('UNSAFE_HOME', `home ${home} of "${name}" ${reason}; not removed`, { context: { name, home, reason }, retryable: false });
  }
}

/**
 * A home `removeUser` cannot move aside: rename(2) answered EXDEV although
 * the staging directory is made beside the home. That is a directory of an
 * overlay filesystem's lower layer — an account made when a container image
 * was built — which only a mount with `redirect_dir=on` can rename.
 * `userdel` had already run: the step's undo puts the account back.
 *
 * @example
 * ```ts
 * // ImmovableHomeError: home /home/app of "app" cannot be moved aside: it is a directory of an overlay filesystem's lower layer ...
 * catch (e) { if (e instanceof ImmovableHomeError) console.error(e.context.home); }
 * ```
 */
export class ImmovableHomeError extends UnwindError {
  constructor(name: string, home: string, reason: string) {
    super('IMMOVABLE_HOME', `home ${home} of "${name}" cannot be moved aside: ${reason}`, { context: { name, home, reason }, retryable: false });
  }
}

/**
 * A shadow lock file (`<file>.lock`, or the `<file>.<pid>` file linked to it)
 * is a symlink or not a regular file: somebody planted it to make root write
 * or read through it. Nothing is written; the database file is not edited.
 *
 * @example
 * ```ts
 * // UnsafeLockFileError: /etc/group.4242 is a symlink (to /etc/shadow); refusing to write a lock through it
 * catch (e) { if (e instanceof UnsafeLockFileError) console.error(e.context.path); }
 * ```
 */
export class UnsafeLockFileError extends UnwindError {
  constructor(path: string, reason: string) {
    super('UNSAFE_LOCK_FILE', `${path} ${reason}; refusing to write a lock through it`, { context: { path, reason }, retryable: false });
  }
}

/**
 * What removeUser found at `<lingerDir>/<name>` is not a linger file
 * (systemd's are empty regular files): a symlink, a directory, a file with
 * content. Raised at prepare (and again in do), before anything is touched;
 * nothing there is removed. Its code is `UNSAFE_PATH`.
 *
 * @example
 * ```ts
 * // UnsafeLingerFileError: /etc/shadow is not empty (1024 bytes), as systemd's linger files are; not removed as a linger file
 * catch (e) { if (e instanceof UnsafeLingerFileError) console.error(e.context.path); }
 * ```
 */
export class UnsafeLingerFileError extends UnwindError {
  constructor(path: string, reason: string) {
    super('UNSAFE_PATH', `${path} ${reason}; not removed as a linger file`, { context: { path, reason }, retryable: false });
  }
}

/**
 * A path inside a prefix root leads out of it: a symlink in the image (to
 * `/home`, `/etc`, or an absolute link meant for the image's own root)
 * would make unwind read, edit or remove the machine's files instead of the
 * image's. Raised at prepare (and on every later use of the path), before
 * anything is touched. Its code is `UNSAFE_PATH`.
 *
 * @example
 * ```ts
 * // PrefixEscapeError: /srv/root/home/bob resolves to /home/bob, outside the prefix root /srv/root; refusing to use it
 * catch (e) { if (e instanceof PrefixEscapeError) console.error(e.context.path); }
 * ```
 */
export class PrefixEscapeError extends UnwindError {
  constructor(prefix: string, path: string, reason: string) {
    super('UNSAFE_PATH', `${path} ${reason}, outside the prefix root ${prefix}; refusing to use it`, { context: { prefix, path, reason }, retryable: false });
  }
}

/**
 * `ensureUser` would take an existing account out of a group whose members
 * unwind never changes — gid 0 (the root group, by any name), a privileged
 * group (`PRIVILEGED_GROUPS`: sudo, wheel, docker, …) or a deny-listed one:
 * `appendGroups: false` with a `groups` list that leaves it out, or a `group`
 * that moves the primary group away from it. Its undo could never put the
 * membership back. Raised at prepare (and again in do), before anything is
 * touched; never retried. `context.groups` names every such group.
 *
 * @example
 * ```ts
 * // LockedMembershipError: user "alice" would leave sudo (a privileged group); unwind takes no member out of ...
 * catch (e) { if (e instanceof LockedMembershipError) console.error(e.context.groups); }
 * ```
 */
export class LockedMembershipError extends UnwindError {
  constructor(name: string, groups: ReadonlyArray<{ name: string; reason: string; primary: boolean }>) {
    const list = groups.map((g) => `${g.name} (${g.primary ? 'its primary group, ' : ''}${g.reason})`).join(', ');
    super(
      'LOCKED_MEMBERSHIP',
      `user "${name}" would leave ${list}; unwind takes no member out of gid 0, privileged or deny-listed groups (its undo could not put it back): keep appendGroups true, or change that membership by hand`,
      { context: { name, groups: groups.map((g) => g.name), reasons: groups.map((g) => g.reason) }, retryable: false },
    );
  }
}
