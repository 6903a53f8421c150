import { UnwindError, type ErrorContext } from '@unwind/core';

/**
 * A stored snapshot does not match its own manifest: the manifest's checksum
 * is wrong, or a stored file's size or SHA-256 differs from what the manifest
 * says. Raised BEFORE anything in the target tree is touched.
 *
 * @example
 * ```ts
 * try { await restore({ store, id, path }); } catch (e) {
 *   if (e instanceof SnapshotCorruptError) console.error(e.context.problems);
 * }
 * ```
 */
export class SnapshotCorruptError extends UnwindError {
  constructor(message: string, context: ErrorContext = {}) {
    super('SNAPSHOT_CORRUPT', message, { context, retryable: false });
  }
}

/**
 * The snapshot was never finished (a crash or failure while it was being
 * made left a `.partial` directory): it is kept for inspection and never
 * restored from.
 *
 * @example
 * ```ts
 * // SnapshotIncompleteError: snapshot 20261122T053012345Z-3f9a1c0d in /var/lib/app/snapshots is incomplete ...
 * ```
 */
export class SnapshotIncompleteError extends UnwindError {
  constructor(store: string, id: string) {
    super('SNAPSHOT_INCOMPLETE', `snapshot ${id} in ${store} is incomplete (its creation did not finish); it is kept for inspection and cannot be restored`, {
      context: { store, id },
      retryable: false,
    });
  }
}

/**
 * No snapshot with this id exists in the store.
 *
 * @example
 * ```ts
 * // SnapshotNotFoundError: no snapshot 2026... in /var/lib/app/snapshots
 * ```
 */
export class SnapshotNotFoundError extends UnwindError {
  constructor(store: string, id: string) {
    super('SNAPSHOT_NOT_FOUND', `no snapshot ${id} in ${store}`, { context: { store, id }, retryable: false });
  }
}

/**
 * Making a snapshot failed (for example ENOSPC in the store). The source tree
 * was only read; the half-made snapshot was removed.
 *
 * @example
 * ```ts
 * // SnapshotCreateError: could not snapshot /srv/app into /var/lib/app/snapshots: no space left on device (ENOSPC)
 * ```
 */
export class SnapshotCreateError extends UnwindError {
  constructor(message: string, context: ErrorContext, cause?: unknown) {
    super('SNAPSHOT_CREATE_FAILED', message, { context, cause, retryable: false });
  }
}

/**
 * The source tree changed while it was being snapshotted, so the copy would
 * not be one consistent state. Retry once the tree is quiet.
 *
 * @example
 * ```ts
 * // SnapshotSourceChangedError: /srv/app/data.db changed while the snapshot was being made
 * ```
 */
export class SnapshotSourceChangedError extends UnwindError {
  constructor(path: string) {
    super('SNAPSHOT_SOURCE_CHANGED', `${path} changed while the snapshot was being made; retry once the tree is quiet`, { context: { path }, retryable: true });
  }
}

/**
 * The tree holds an entry a snapshot cannot restore exactly (a socket, FIFO
 * or device node). Refused before anything is written.
 *
 * @example
 * ```ts
 * // UnsupportedEntryError: /srv/app/run.sock is a socket; snapshots hold files, directories and symlinks only
 * ```
 */
export class UnsupportedEntryError extends UnwindError {
  /**
   * `swapped`: the scan saw a regular file (or what `scanned` says, like
   * `a directory`) at `path`, and what was there when it was opened to be
   * read is a `kind` (someone replaced it). It was never read, followed nor
   * waited on (a FIFO would block an open for ever).
   */
  constructor(path: string, kind: string, swapped = false, scanned = 'a regular file') {
    const message = swapped
      ? `${path} is now a ${kind}, where ${scanned} was scanned; it was not read (snapshots read regular files only, and never wait on anything else): retry once the tree is quiet`
      : `${path} is a ${kind}; snapshots hold files, directories and symlinks only`;
    super('SNAPSHOT_UNSUPPORTED_ENTRY', message, { context: { path, kind, swapped }, retryable: swapped });
  }
}

/**
 * A restore stopped rather than act outside the tree: someone changed the
 * live tree while it ran, in a way that would have led a change elsewhere.
 * Restore acts only through the open descriptor of each directory (never
 * by path), so nothing outside the tree was touched; what it restored
 * before stopping stays (run it again once the tree is quiet, it completes
 * the job). Raised when:
 * - a symlink or anything else is where a directory was planned, or the
 *   directory is gone or is not the one the scan saw (never followed);
 * - going into a directory is an unsafe path transition: one owned by a
 *   user other than root or the running user holds a directory of another
 *   owner (that user could have moved it there);
 * - an entry whose owner or mode is to be set is of another type than
 *   planned, or not the inode the scan saw;
 * - a file whose owner or mode would be set in place has more hard links
 *   than the tree holds, or any other hard link while its directory is one
 *   others can change (another name may be a file its owner does not own,
 *   like /etc/shadow); this one stays until that link is gone;
 * - the way to the tree from `/` is unsafe (a symlink someone else could
 *   have planted, an unsafe transition).
 * {@link create} throws it too (`context.doing` is `snapshot`), before
 * anything is stored, when the way to the source is unsafe by the same
 * rules: what it would store could be another tree than the one named (a
 * user who owns a directory above swaps it for a symlink to root's), which
 * a later restore would then write into that user's tree.
 * `context.path` names the entry, `context.reason` what is wrong with it.
 *
 * @example
 * ```ts
 * try { await restore({ store, id, path: '/home/alice/.config/app' }); } catch (e) {
 *   if (e instanceof UnsafeTreeError) console.error(e.context.path, e.context.reason);
 * }
 * // UnsafeTreeError: refusing to restore /home/alice/.config/app: /home/alice/.config/app/sub is a symlink now, where the restore expects a directory; it was not followed ...
 * ```
 */
export class UnsafeTreeError extends UnwindError {
  constructor(tree: string, path: string, reason: string, cause?: unknown, doing: 'restore' | 'snapshot' = 'restore') {
    const outcome = doing === 'restore' ? 'nothing outside the tree was touched' : 'nothing was stored';
    super('SNAPSHOT_UNSAFE_TREE', `refusing to ${doing} ${tree}: ${reason}; ${outcome}`, { context: { tree, path, reason, doing }, cause, retryable: false });
  }
}

/**
 * After a restore the tree still differs from the snapshot's manifest. The
 * differences are in `context.differences`. In a transaction this makes the
 * undo fail, so the outcome is `rollback-failed`, never a false success.
 *
 * @example
 * ```ts
 * // RestoreVerificationError: /srv/app does not match snapshot 2026...: 2 differences (a.conf: sha256 ...)
 * ```
 */
export class RestoreVerificationError extends UnwindError {
  constructor(path: string, id: string, differences: string[]) {
    super('RESTORE_NOT_VERIFIED', `${path} does not match snapshot ${id} after the restore: ${differences.length} difference(s): ${differences.slice(0, 5).join('; ')}`, {
      context: { path, id, differences: differences.slice(0, 50) },
      retryable: true,
    });
  }
}

/**
 * A snapshot cannot be deleted because a running transaction holds a pin on it.
 *
 * @example
 * ```ts
 * // SnapshotPinnedError: snapshot 2026... is pinned by transaction 2026...-update-7a1b2c
 * ```
 */
export class SnapshotPinnedError extends UnwindError {
  constructor(store: string, id: string, pins: string[]) {
    super('SNAPSHOT_PINNED', `snapshot ${id} in ${store} is pinned by ${pins.join(', ')}; it cannot be deleted while they run`, { context: { store, id, pins }, retryable: false });
  }
}
