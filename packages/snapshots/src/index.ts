/**
 * @unwind/snapshots — Verified snapshots of a directory tree: create, restore, retention, and a snapshot step.
 *
 * A snapshot is a copy of a tree (reflinked where the filesystem can) plus a
 * checksummed manifest of every path's type, mode, owner, size, mtime,
 * SHA-256, link target and hard-link group. `restore` rewrites only what
 * differs and then verifies the whole tree against the manifest. The
 * `snapshot` step kind wraps "any change to this tree" in a transaction.
 *
 * @packageDocumentation
 * @module @unwind/snapshots
 */
import { snapshot } from './snapshot-step.js';

export { snapshot, DEFAULT_KEEP_LAST } from './snapshot-step.js';
export { create, validateSnapshotPaths } from './create.js';
export type { CreateOptions, SnapshotInfo } from './create.js';
export { restore, verifySnapshot, diff } from './restore.js';
export type { RestoreOptions, RestoreReport } from './restore.js';
export { list, remove, prune } from './retention.js';
export type { SnapshotListing, PruneReport } from './retention.js';
export { pin, unpin, readManifest, readPins, isPinLive, SNAPSHOT_ID } from './store.js';
export type { Pin } from './store.js';
export { encodeManifest, decodeManifest, MANIFEST_FILE, MANIFEST_FORMAT } from './manifest.js';
export type { Manifest, ManifestEntry } from './manifest.js';
export { planRestore, compareTree, sameTime } from './plan.js';
export type { RestorePlan } from './plan.js';
export { scanTree, hashFile } from './scan.js';
export type { LiveEntry, ScanFs } from './scan.js';
export {
  SnapshotCorruptError,
  SnapshotIncompleteError,
  SnapshotNotFoundError,
  SnapshotCreateError,
  SnapshotSourceChangedError,
  UnsupportedEntryError,
  UnsafeTreeError,
  RestoreVerificationError,
  SnapshotPinnedError,
} from './errors.js';

/**
 * Every step kind of @unwind/snapshots, for `recover({ kinds })`.
 *
 * @example
 * ```ts
 * import { kinds as snapshotKinds } from '@unwind/snapshots';
 * await recover({ root: '/var/lib/app/unwind', kinds: [...snapshotKinds, ...fileKinds] });
 * ```
 */
export const kinds = [snapshot];
