/**
 * @unwind/files — atomic file changes, staged removal, copy, mode/owner and
 * symlinks, as undoable steps for `@unwind/core` transactions.
 *
 * @packageDocumentation
 * @module @unwind/files
 */
import type { AnyStepKind } from '@unwind/core';
import { chmod } from './chmod.js';
import { chown } from './chown.js';
import { copy } from './copy.js';
import { ensureDir } from './ensure-dir.js';
import { move } from './move.js';
import { remove } from './remove.js';
import { symlink } from './symlink.js';
import { writeFile } from './write-file.js';

export { writeFile } from './write-file.js';
export type { WriteFileArgs } from './write-file.js';
export { copy, install } from './copy.js';
export type { CopyArgs } from './copy.js';
export { ensureDir } from './ensure-dir.js';
export type { EnsureDirArgs, EnsureDirBefore } from './ensure-dir.js';
export { chmod } from './chmod.js';
export { chown } from './chown.js';
export { symlink } from './symlink.js';
export type { SymlinkBefore } from './symlink.js';
export { move } from './move.js';
export { remove } from './remove.js';
export type { RemoveArgs, RemoveBefore } from './remove.js';
export { planRemoval, normalizeRoots, parseMountPoints } from './plan-removal.js';
export { openDirectorySafely } from './safe-path.js';
export type { PlanFs, RemovalPlan } from './plan-removal.js';
export type { FileBefore, FileAfter, ReplaceOptions } from './replace.js';
export {
  CrossDeviceError,
  SymlinkRefusedError,
  UnsafePathError,
  HardLinkRefusedError,
  UnexpectedFileTypeError,
  NoProcError,
  ValidationCommandError,
  TargetChangedError,
  TargetExistsError,
  RestoreError,
} from './errors.js';
export type { StagedPath } from './errors.js';

/**
 * Every step kind of @unwind/files, for `recover({ kinds })`.
 *
 * @example
 * ```ts
 * import { recover } from '@unwind/core';
 * import { kinds } from '@unwind/files';
 * await recover({ root: '/var/lib/app/unwind', kinds });
 * ```
 */
export const kinds: readonly AnyStepKind[] = [writeFile, copy, ensureDir, chmod, chown, symlink, move, remove];
