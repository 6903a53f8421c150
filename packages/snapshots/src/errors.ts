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
  constructor(path: string, kind: string) {
    super('SNAPSHOT_UNSUPPORTED_ENTRY', `${path} is a ${kind}; snapshots hold files, directories and symlinks only`, { context: { path, kind }, retryable: false });
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
