import * as fs from 'node:fs';
import { join } from 'node:path';
import { validateUnitContent } from '@unwind/systemd';
import { validateUserName } from '@unwind/users';
import type { Problem } from '@unwind/reconcile';

/**
 * One desired container: a unit file `<name>.service` in the desired
 * directory, deployed as the unit `<name>.service` of the dedicated user
 * `<name>`.
 *
 * @example
 * ```ts
 * const c: Container = { name: 'web', unit: 'web.service', content: '[Service]\nExecStart=/usr/bin/web\n', source: '/srv/desired/web.service' };
 * ```
 */
export interface Container {
  /** The container's name, which is also its user's name. */
  name: string;
  /** The unit name, `<name>.service`. */
  unit: string;
  content: string;
  /** The file it came from. */
  source: string;
}

/** The suffix of a desired unit file. */
export const UNIT_SUFFIX = '.service';
/** A subdirectory holding this file is allowed (skipped) in the desired directory. */
export const ALLOW_MARKER = '.reconcile-allowed';
const MAX_UNIT_BYTES = 256 * 1024;

/**
 * Reads the whole desired directory and checks all of it before anything
 * changes: every entry must be a regular `<name>.service` file whose name is
 * a valid user name and whose contents look like a unit file. A
 * subdirectory is an error unless it is listed in `allowedDirs` or holds a
 * `.reconcile-allowed` file (a directory is never
 * skipped silently). Symlinks, other files and hidden files are errors too,
 * except the hidden names listed in `allowedDirs`.
 *
 * @example
 * ```ts
 * const { containers, problems } = readDesired('/srv/desired', { allowedDirs: ['.git'] });
 * if (problems.length) console.error(problems);
 * ```
 */
export function readDesired(dir: string, options: { allowedDirs?: readonly string[] } = {}): { containers: Container[]; problems: Problem[] } {
  const containers: Container[] = [];
  const problems: Problem[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    return { containers, problems: [{ message: `cannot read the desired directory ${dir}: ${(error as Error).message}` }] };
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, entry.name);
    if (options.allowedDirs?.includes(entry.name)) continue;
    if (entry.isDirectory()) {
      if (fs.existsSync(join(path, ALLOW_MARKER))) continue;
      problems.push({ message: `${entry.name}/: unknown subdirectory; list it in allowedDirs or put a ${ALLOW_MARKER} file in it to allow it` });
      continue;
    }
    if (entry.isSymbolicLink()) {
      problems.push({ message: `${entry.name}: is a symlink; desired units must be regular files` });
      continue;
    }
    if (!entry.isFile() || !entry.name.endsWith(UNIT_SUFFIX)) {
      problems.push({ message: `${entry.name}: not a <name>${UNIT_SUFFIX} file` });
      continue;
    }
    const name = entry.name.slice(0, -UNIT_SUFFIX.length);
    const size = fs.statSync(path).size;
    if (size > MAX_UNIT_BYTES) {
      problems.push({ key: name, message: `${entry.name}: larger than ${MAX_UNIT_BYTES} bytes` });
      continue;
    }
    containers.push({ name, unit: entry.name, content: fs.readFileSync(path, 'utf8'), source: path });
  }
  return { containers, problems };
}

/**
 * Problems of one container, for the reconciler's `validate` hook: its name
 * must be a user name shadow accepts, and its contents a unit file with a
 * `[Service]` section.
 *
 * @example
 * ```ts
 * validateContainer({ name: 'Web!', unit: 'Web!.service', content: '', source: '' }); // ['user name "Web!" must match ...', ...]
 * ```
 */
export function validateContainer(c: Container): string[] {
  const problems: string[] = [];
  try {
    validateUserName(c.name, 'container (user) name');
  } catch (error) {
    problems.push((error as Error).message);
  }
  try {
    validateUnitContent(c.content, c.unit);
    if (!/^\s*\[Service\]\s*$/m.test(c.content)) problems.push(`${c.unit} has no [Service] section`);
  } catch (error) {
    problems.push((error as Error).message);
  }
  return problems;
}
