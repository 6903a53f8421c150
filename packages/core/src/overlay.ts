import * as fs from 'node:fs';

/** statfs(2) f_type of overlayfs (OVERLAYFS_SUPER_MAGIC). */
const OVERLAYFS_MAGIC = 0x794c7630;

/**
 * Whether `path` is on an overlay filesystem (statfs(2), which follows a
 * symlink), as a container's root usually is. A
 * directory there that comes from a lower layer (the image) cannot be
 * renamed unless the mount has `redirect_dir=on`: rename(2) answers EXDEV
 * although both names are on one filesystem. Files, and directories made
 * in the upper layer, rename as anywhere.
 *
 * @example
 * ```ts
 * onOverlay('/opt/app'); // true inside a Docker or Podman container
 * ```
 */
export function onOverlay(path: string): boolean {
  try {
    return fs.statfsSync(path).type === OVERLAYFS_MAGIC;
  } catch {
    return false;
  }
}
