import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { parseMountPoints } from '@unwind/files';

/**
 * Checks, before the transaction starts and so before anything moves, that
 * every path can be renamed into the staging directory: same device and
 * same mount (a bind mount of the same disk still gives EXDEV), and no mount
 * point inside a path. `@unwind/files` checks this again in each step's
 * `prepare`; doing it here first means a refusal names every problem at
 * once and no group has moved yet.
 */

/**
 * One path that cannot be renamed into the staging directory.
 *
 * @example
 * ```ts
 * const c: Crossing = { path: '/home/u/.memtomem/uploads', reason: 'is on device 2049, the staging directory on 41', innerMount: false };
 * ```
 */
export interface Crossing {
  path: string;
  reason: string;
  /** A mount point inside the path: refused even with --allow-copy (it would copy another filesystem's contents). */
  innerMount: boolean;
}

function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

function mountOf(path: string, mounts: readonly string[]): string {
  let best = '/';
  for (const m of mounts) if (isWithin(path, m) && m.length > best.length) best = m;
  return best;
}

function readMounts(): string[] {
  try {
    return parseMountPoints(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}

/** The resolved location of a path without following the path itself (it may be a symlink). */
function locationOf(path: string): string {
  return `${fs.realpathSync(dirname(path))}/${path.slice(dirname(path).length + 1)}`;
}

/**
 * The paths that cannot be renamed into `stagingDir`.
 *
 * @example
 * ```ts
 * const crossings = findCrossings(['/home/u/.memtomem/memories'], '/mnt/other');
 * if (crossings.length > 0) console.error(crossings.map((c) => c.reason).join('\n'));
 * ```
 */
export function findCrossings(paths: readonly string[], stagingDir: string): Crossing[] {
  const mounts = readMounts();
  const staging = fs.statSync(stagingDir);
  const stagingMount = mountOf(fs.realpathSync(stagingDir), mounts);
  const out: Crossing[] = [];
  for (const path of paths) {
    const st = fs.lstatSync(path);
    const location = locationOf(path);
    const inner = mounts.filter((m) => isWithin(m, location));
    if (inner.length > 0) {
      out.push({ path, reason: `${path} is or contains the mount point(s) ${inner.join(', ')}`, innerMount: true });
      continue;
    }
    if (st.dev !== staging.dev) {
      out.push({ path, reason: `${path} is on device ${st.dev}, the staging directory ${stagingDir} on device ${staging.dev}`, innerMount: false });
    } else if (mountOf(location, mounts) !== stagingMount) {
      out.push({ path, reason: `${path} is under mount ${mountOf(location, mounts)}, the staging directory ${stagingDir} under ${stagingMount}`, innerMount: false });
    }
  }
  return out;
}
