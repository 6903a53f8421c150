/**
 * A cgroup of its own for a process that becomes a systemd manager: a
 * throw-away machine's PID 1, or a sandbox user manager.
 *
 * Why: a systemd manager takes the cgroup it starts in as the root of its
 * units' cgroups. When a unit stops it kills what is left in that unit's
 * cgroup, and when the manager exits it removes every empty cgroup under
 * its root. Started in a cgroup another manager also uses, two managers
 * do this to each other:
 *
 * - a sandbox user manager started in a machine's root cgroup removes, on
 *   exit, every empty cgroup of the machine: the one a unit of another
 *   manager has just been given, before its process moved in, included;
 * - a machine booted inside the machine had the same `/system.slice/…` and
 *   `/user.slice/…` cgroups as the system manager it runs under, so that one
 *   stopping a unit killed what the inner one ran under the same name.
 *
 * Each such process now starts in a fresh child of the caller's cgroup, in
 * every hierarchy systemd tracks processes in (the unified one, and the
 * `name=systemd` one of a hybrid layout), and the child is removed after.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../random-hex.js';

/**
 * A fresh cgroup in each hierarchy systemd uses, from {@link cgroupSubtree}.
 *
 * @example
 * ```ts
 * const subtree = cgroupSubtree('unwind-user-manager');
 * const child = spawn(...(subtree ? subtree.wrap(argv) : argv));
 * // after the child and everything it started ended:
 * subtree?.remove();
 * ```
 */
export interface CgroupSubtree {
  /** The cgroup directories, one per hierarchy. */
  readonly directories: readonly string[];
  /**
   * argv that moves its own process into the subtree, then runs `argv` in
   * that same process (exec): whatever `argv` starts is born inside it.
   */
  wrap(argv: readonly string[]): string[];
  /** A cgroup of this name under this one, in each hierarchy (made now). */
  child(name: string): CgroupSubtree;
  /** Sends SIGKILL to every process in the subtree; returns how many it found. */
  kill(): number;
  /**
   * Removes the subtree, deepest cgroups first; a cgroup that still has
   * processes stays. Returns the directories it could not remove.
   */
  remove(): string[];
}

/**
 * The script of {@link CgroupSubtree.wrap}, constant: the cgroup.procs files
 * come as arguments before `--`, the program after it, never in the text.
 */
const ENTER_THEN_EXEC = 'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do echo "$$" > "$1" || exit 125; shift; done; shift; exec "$@"';

/** A hierarchy systemd tracks processes in: where it is mounted, and this process's cgroup in it. */
interface Hierarchy {
  mountPoint: string;
  cgroup: string;
}

/**
 * Makes a fresh child of this process's cgroup named `prefix-<random>` in
 * each hierarchy systemd uses, or returns undefined where there is none
 * this process may write (not root, no cgroup file system mounted, or its
 * own cgroup outside its cgroup namespace): the caller then starts its
 * process where it is, as before.
 *
 * @example
 * ```ts
 * const subtree = cgroupSubtree('unwind-machine');
 * ```
 */
export function cgroupSubtree(prefix: string): CgroupSubtree | undefined {
  const hierarchies = systemdHierarchies();
  if (hierarchies.length === 0 || process.getuid?.() !== 0) return undefined;
  const name = `${prefix}-${randomHex(6)}`;
  try {
    return made(hierarchies.map((h) => join(h.mountPoint, h.cgroup, name)));
  } catch {
    return undefined;
  }
}

/** Makes the directories (all or none) and the subtree over them. */
function made(directories: string[]): CgroupSubtree {
  const done: string[] = [];
  try {
    for (const directory of directories) {
      fs.mkdirSync(directory);
      done.push(directory);
    }
  } catch (error) {
    for (const directory of done) removeCgroupTree(directory);
    throw error;
  }
  return {
    directories,
    child: (name) => made(directories.map((directory) => join(directory, name))),
    wrap: (argv) => ['sh', '-c', ENTER_THEN_EXEC, 'unwind-enter-cgroup', ...directories.map((d) => join(d, 'cgroup.procs')), '--', ...argv],
    kill: () => {
      const pids = new Set(directories.flatMap((directory) => processesUnder(directory)));
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ended on its own
        }
      }
      return pids.size;
    },
    remove: () => directories.flatMap((directory) => removeCgroupTree(directory)),
  };
}

/** The pids in a cgroup and the cgroups under it (pid 0: a process of a PID namespace this one cannot see). */
function processesUnder(directory: string): number[] {
  let children: fs.Dirent[];
  let listed: string;
  try {
    children = fs.readdirSync(directory, { withFileTypes: true });
    listed = fs.readFileSync(join(directory, 'cgroup.procs'), 'utf8');
  } catch {
    return [];
  }
  const own = listed.split('\n').filter((l) => /^[1-9]\d*$/.test(l)).map(Number);
  return [...own, ...children.filter((c) => c.isDirectory()).flatMap((c) => processesUnder(join(directory, c.name)))];
}

/** Removes a cgroup and the cgroups under it, deepest first; returns what stayed. */
function removeCgroupTree(directory: string): string[] {
  let children: fs.Dirent[];
  try {
    children = fs.readdirSync(directory, { withFileTypes: true });
  } catch {
    return []; // gone already
  }
  const stayed = children.filter((c) => c.isDirectory()).flatMap((c) => removeCgroupTree(join(directory, c.name)));
  try {
    fs.rmdirSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') stayed.push(directory);
  }
  return stayed;
}

/**
 * The unified (cgroup2) hierarchy and the `name=systemd` v1 one, where
 * mounted read-write, with this process's cgroup in each (from
 * /proc/self/mountinfo and /proc/self/cgroup).
 */
function systemdHierarchies(): Hierarchy[] {
  let mountinfo: string;
  let membership: string;
  try {
    mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    membership = fs.readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return [];
  }
  const cgroupOf = (matches: (controllers: string) => boolean): string | undefined => {
    for (const line of membership.split('\n')) {
      const [id, controllers, path] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1, line.lastIndexOf(':')), line.slice(line.lastIndexOf(':') + 1)];
      // "/.." and below: a cgroup outside this cgroup namespace (entered with nsenter from outside it).
      if (id !== '' && matches(controllers) && path.startsWith('/') && !path.split('/').includes('..')) return path;
    }
    return undefined;
  };
  const found: Hierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0) continue;
    const [root, mountPoint, options] = [fields[3]!, fields[4]!, fields[5]!];
    const [type, , superOptions = ''] = fields.slice(separator + 1);
    if (options.split(',').includes('ro')) continue;
    const cgroup =
      type === 'cgroup2' ? cgroupOf((c) => c === '') : type === 'cgroup' && superOptions.split(',').includes('name=systemd') ? cgroupOf((c) => c === 'name=systemd') : undefined;
    // A mount of a part of the hierarchy (root not /) shows paths relative to that part.
    if (cgroup === undefined || seen.has(type!) || (root !== '/' && cgroup !== root && !cgroup.startsWith(`${root}/`))) continue;
    seen.add(type!); // a hierarchy mounted twice is still one
    found.push({ mountPoint: unescapeMountPath(mountPoint), cgroup: root === '/' ? cgroup : cgroup.slice(root.length) || '/' });
  }
  return found;
}

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
