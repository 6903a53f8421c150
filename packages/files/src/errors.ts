import { UnwindError, type ErrorContext } from '@unwind/core';

/**
 * A move would cross a filesystem boundary (the source and the staging
 * directory or destination have different `st_dev`, or a mount point sits
 * inside the source). Raised before anything moved. Opt into copy-then-delete
 * with `allowCopy: true` where the step offers it. Also raised when a
 * rename answers EXDEV on one filesystem: a directory of an overlay's lower
 * layer (a container image), which rename(2) moves only on a mount with
 * `redirect_dir=on`; the step's undo puts back whatever it had moved before.
 *
 * @example
 * ```ts
 * // CrossDeviceError: /srv/data is on device 2049, the staging directory /mnt/stage on 43; nothing was moved
 * catch (e) { if (e instanceof CrossDeviceError) console.error(e.context.source, e.context.staging); }
 * ```
 */
export class CrossDeviceError extends UnwindError {
  constructor(message: string, context: ErrorContext) {
    super('CROSS_DEVICE', message, { context, retryable: false });
  }
}

/**
 * A symlink sits where a file or directory was expected. unwind never
 * follows it: a planted link must not redirect a write as root.
 *
 * @example
 * ```ts
 * // SymlinkRefusedError: /etc/app.conf is a symlink (-> /etc/shadow); refusing to follow it
 * ```
 */
export class SymlinkRefusedError extends UnwindError {
  constructor(path: string, target?: string) {
    super('SYMLINK_REFUSED', `${path} is a symlink${target === undefined ? '' : ` (-> ${target})`}; refusing to follow it`, { context: { path, target }, retryable: false });
  }
}

/**
 * The way to a directory passes through something another user controls: a
 * symlink owned by someone other than root or the running user, a symlink in
 * a directory others can write (so they could replace it), or an "unsafe
 * transition" — a directory owned by an ordinary user leading into one owned
 * by someone else (the rule systemd-tmpfiles applies). Following it would let
 * that user choose where unwind, as root, writes. Raised before anything is
 * touched.
 *
 * @example
 * ```ts
 * // UnsafePathError: /srv/app/conf: /srv/app is a symlink owned by uid 1000 (-> /etc); refusing to follow it
 * catch (e) { if (e instanceof UnsafePathError) console.error(e.context.component); }
 * ```
 */
export class UnsafePathError extends UnwindError {
  constructor(path: string, component: string, reason: string) {
    super('UNSAFE_PATH', `${path}: ${component} ${reason}; nothing was touched`, { context: { path, component, reason }, retryable: false });
  }
}

/**
 * A file (not a directory) with more than one hard link, in a directory
 * someone other than root can write: its other names may be anywhere on the
 * filesystem (a user who can write the directory can link `/etc/shadow`
 * there where `fs.protected_hardlinks` is off), so changing its mode or
 * owner could change a file the path's owner does not own. Refused at
 * prepare, before anything is touched; a kind of {@link UnsafePathError}.
 *
 * @example
 * ```ts
 * // HardLinkRefusedError: /home/alice/app/config: /home/alice/app/config has 2 hard links in a directory others can write; ...
 * ```
 */
export class HardLinkRefusedError extends UnsafePathError {
  /** `refusing` says what was not done: by default, changing its mode or owner (`chmod`, `chown`); for a copy's source, reading it. */
  constructor(path: string, links: number, refusing = 'refusing to change its mode or owner') {
    super(path, path, `has ${links} hard links in a directory someone other than root can write (another name may be a file its owner does not own); ${refusing}`);
  }
}

/**
 * `/proc` is not mounted (a chroot or a container without it, or unmounted
 * while the process ran). The files kinds reach every entry through a
 * directory they opened (`/proc/self/fd/<fd>/<name>`), so without `/proc`
 * they cannot look at a path at all: this is raised instead of taking what
 * cannot be seen for missing. Nothing was touched.
 *
 * @example
 * ```ts
 * // NoProcError: cannot reach /etc: the files kinds need /proc (to act through an open directory); mount it
 * catch (e) { if (e instanceof NoProcError) console.error('mount -t proc proc /proc, then run again'); }
 * ```
 */
export class NoProcError extends UnwindError {
  constructor(path: string) {
    super('NO_PROC', `cannot reach ${path}: the files kinds need /proc (to act through an open directory); mount it`, { context: { path }, retryable: false });
  }
}

/**
 * A path exists with the wrong type (a directory where a file is written, a
 * file where a directory is ensured), or a parent directory is missing.
 *
 * @example
 * ```ts
 * // UnexpectedFileTypeError: /etc/app.conf is a directory, expected a regular file
 * ```
 */
export class UnexpectedFileTypeError extends UnwindError {
  constructor(message: string, context: ErrorContext) {
    super('UNEXPECTED_FILE_TYPE', message, { context, retryable: false });
  }
}

/**
 * The `validate` command rejected the new content; nothing was replaced.
 *
 * @example
 * ```ts
 * // ValidationCommandError: nginx -t -c /etc/nginx/.nginx.conf.unwind-… rejected the new content of /etc/nginx/nginx.conf: ...
 * ```
 */
export class ValidationCommandError extends UnwindError {
  constructor(path: string, argv: readonly string[], cause: unknown) {
    const stderr = (cause as { context?: { stderr?: unknown } })?.context?.stderr;
    super('VALIDATE_COMMAND_FAILED', `${argv.join(' ')} rejected the new content of ${path}: ${(cause as Error)?.message ?? cause}`, {
      context: { path, argv, ...(typeof stderr === 'string' ? { stderr } : {}) },
      cause,
      retryable: false,
    });
  }
}

/**
 * The path changed behind the transaction's back, so undo will not guess:
 * something else now sits where unwind would restore or remove.
 *
 * @example
 * ```ts
 * // TargetChangedError: /srv/app/new.conf holds content unwind did not write; left untouched
 * ```
 */
export class TargetChangedError extends UnwindError {
  constructor(message: string, context: ErrorContext) {
    super('TARGET_CHANGED', message, { context, retryable: false });
  }
}

/**
 * A destination exists already and the step does not overwrite.
 *
 * @example
 * ```ts
 * // TargetExistsError: cannot move /srv/a to /srv/b: /srv/b exists
 * ```
 */
export class TargetExistsError extends UnwindError {
  constructor(message: string, context: ErrorContext) {
    super('TARGET_EXISTS', message, { context, retryable: false });
  }
}

/**
 * One staged path and where it belongs.
 *
 * @example
 * ```ts
 * for (const { staged, original } of error.remaining) console.log(`mv -T ${staged} ${original}`);
 * ```
 */
export interface StagedPath {
  staged: string;
  original: string;
}

/**
 * Putting staged paths back failed. The staging directory is kept; the
 * message lists every staged path and its original place, and the command to
 * put each back by hand.
 *
 * @example
 * ```ts
 * // RestoreError: could not move 2 staged paths back; they are safe in /srv/.unwind-staging-…:
 * //   mv -T /srv/.unwind-staging-…/0 /srv/data
 * ```
 */
export class RestoreError extends UnwindError {
  readonly remaining: StagedPath[];
  constructor(staging: string, remaining: StagedPath[], problems: string[], cause?: unknown) {
    const lines = remaining.map((r) => `  mv -T -- '${r.staged}' '${r.original}'`);
    super(
      'RESTORE_FAILED',
      `could not move ${remaining.length} staged path(s) back (${problems.join('; ')}); ` +
        `nothing is lost: they are in ${staging}. To put them back by hand:\n${lines.join('\n')}`,
      { context: { staging, remaining, problems }, cause, retryable: false },
    );
    this.remaining = remaining;
  }
}

/**
 * Why a directory on an overlay filesystem could not be renamed although
 * both names are on it: the words CrossDeviceError's message uses.
 *
 * @example
 * ```ts
 * new CrossDeviceError(`${path} cannot be renamed (EXDEV): ${OVERLAY_LOWER_DIRECTORY}`, { source: path });
 * ```
 */
export const OVERLAY_LOWER_DIRECTORY = "it is a directory of an overlay filesystem's lower layer (a container image), which rename(2) moves only on a mount with redirect_dir=on";
