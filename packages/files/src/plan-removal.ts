import { join } from 'node:path';
import { isWithin } from '@unwind/core';

/**
 * Pure planning of a group removal with a keep list. It reads the tree
 * through a tiny interface (so it is tested on memfs) and decides, before
 * anything moves, exactly which paths are renamed into staging.
 */

/**
 * The two reads the planner needs; `lstat` returns undefined for a missing path.
 *
 * @example
 * ```ts
 * const nodeFs: PlanFs = { lstat: (p) => { try { return fs.lstatSync(p); } catch { return undefined; } }, readdir: (p) => fs.readdirSync(p) };
 * ```
 */
export interface PlanFs {
  /** The path's type without following a link; `undefined` when it does not exist. */
  lstat(path: string): {
    /** Whether it is a directory. */
    isDirectory(): boolean;
    /** Whether it is a symbolic link. */
    isSymbolicLink(): boolean;
  } | undefined;
  /** The names in a directory. */
  readdir(path: string): string[];
}

/**
 * What a group removal will do.
 *
 * @example
 * ```ts
 * const { move, kept } = planRemoval(['/home/alice'], ['/home/alice/.ssh'], nodeFs);
 * ```
 */
export interface RemovalPlan {
  /** Paths renamed into staging as a whole, in a stable order. */
  move: string[];
  /** Keep-list paths (and non-directory ancestors of them) that stay where they are. */
  kept: string[];
  /** Directories that stay because something under them is kept; their other children move. */
  opened: string[];
  /** Requested paths that do not exist (nothing to do). */
  missing: string[];
}

/**
 * The requested paths without duplicates and without paths that lie under
 * another requested path (moving the parent moves them already).
 *
 * @example
 * ```ts
 * normalizeRoots(['/c', '/a/b', '/a', '/c']) // ['/c', '/a']
 * ```
 */
export function normalizeRoots(paths: readonly string[]): string[] {
  const unique = [...new Set(paths.map((p) => p.replace(/\/+$/, '') || '/'))];
  // Caller's order is kept: the first path decides the default staging place.
  return unique.filter((path) => !unique.some((other) => other !== path && isWithin(path, other)));
}

/** Keep-list entries that lie under no requested path (a caller mistake worth refusing). */
export function strayKeeps(paths: readonly string[], keep: readonly string[]): string[] {
  return keep.filter((k) => !paths.some((p) => isWithin(k, p)));
}

/**
 * Plans a removal: a requested path with nothing kept under it moves whole;
 * a kept path stays; a directory with kept paths below it stays and its
 * children are planned the same way. Keep entries that do not exist keep
 * their existing ancestors in place (conservative: never move what a keep
 * entry names or contains).
 *
 * @example
 * ```ts
 * planRemoval(['/home/alice'], ['/home/alice/.ssh'], fsAdapter)
 * // { move: ['/home/alice/a.txt', '/home/alice/src'], kept: ['/home/alice/.ssh'], opened: ['/home/alice'], missing: [] }
 * ```
 */
export function planRemoval(paths: readonly string[], keep: readonly string[], fs: PlanFs): RemovalPlan {
  const plan: RemovalPlan = { move: [], kept: [], opened: [], missing: [] };
  const keeps = [...new Set(keep.map((k) => k.replace(/\/+$/, '') || '/'))];
  const visit = (path: string): void => {
    const st = fs.lstat(path);
    if (!st) {
      plan.missing.push(path);
      return;
    }
    const below = keeps.filter((k) => isWithin(k, path));
    if (below.length === 0) plan.move.push(path);
    else if (below.includes(path) || !st.isDirectory() || st.isSymbolicLink()) plan.kept.push(path);
    else {
      plan.opened.push(path);
      for (const name of [...fs.readdir(path)].sort()) visit(join(path, name));
    }
  };
  for (const root of normalizeRoots(paths)) visit(root);
  return plan;
}

/**
 * Mount points listed in `/proc/self/mountinfo` text (field 5, with the
 * kernel's octal escapes decoded).
 *
 * @example
 * ```ts
 * parseMountPoints('36 35 98:0 /mnt1 /mnt/with\\040space rw - ext3 /dev/root rw') // ['/mnt/with space']
 * ```
 */
export function parseMountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p !== '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Mount points at or below `path`. */
export function mountsWithin(path: string, mountPoints: readonly string[]): string[] {
  return mountPoints.filter((m) => isWithin(m, path));
}

/**
 * The mount point a (resolved, absolute) path lives on: the longest mount
 * point containing it. Two paths on one device but under different bind
 * mounts cannot be renamed into each other (EXDEV), so this, not only
 * `st_dev`, decides whether a rename can work.
 *
 * @example
 * ```ts
 * mountOf('/srv/data/x', ['/', '/srv/data']) // '/srv/data'
 * ```
 */
export function mountOf(path: string, mountPoints: readonly string[]): string {
  let best = '/';
  for (const m of mountPoints) if (isWithin(path, m) && m.length > best.length) best = m;
  return best;
}
