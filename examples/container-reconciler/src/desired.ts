import * as fs from 'node:fs';
import { join } from 'node:path';
import { validateUnitContent } from '@unwind/systemd';
import { validateUserName } from '@unwind/users';
import type { Problem } from '@unwind/reconcile';
import { QuadletFileError, formatSections, parseQuadletFile, parseSections, quadletExtension, type QuadletSection } from './quadlet-file.js';
import { applyTransform, readTransforms } from './transforms.js';

/**
 * One file deployed for a Quadlet container into its user's
 * `~/.config/containers/systemd/`.
 *
 * @example
 * ```ts
 * const file: QuadletFile = { file: 'web.container', content: '[Container]\nImage=docker.io/library/nginx:1.27\n' };
 * ```
 */
export interface QuadletFile {
  file: string;
  content: string;
}

/**
 * One desired container, deployed as the unit `<name>.service` of the
 * dedicated user `<name>`. Either a systemd unit (`kind: 'unit'`, the file
 * `<name>.service`) or Quadlet (`kind: 'quadlet'`: `<name>.container` or
 * `<name>.kube`, with an optional `<name>.volume` and `<name>.network`, from
 * which podman's generator makes `<name>.service`).
 *
 * @example
 * ```ts
 * const c: Container = { name: 'web', kind: 'unit', unit: 'web.service', content: '[Service]\nExecStart=/usr/bin/web\n', quadlet: [], source: '/srv/desired/web.service' };
 * ```
 */
export interface Container {
  /** The container's name, which is also its user's name. */
  name: string;
  kind: 'unit' | 'quadlet';
  /** The unit that runs it, `<name>.service` (Quadlet generates it from `<name>.container` or `<name>.kube`). */
  unit: string;
  /** The unit file's bytes; for Quadlet, the `.container`/`.kube` file's (after its transform). */
  content: string;
  /** Quadlet: every file deployed for it, the `.container`/`.kube` first. Empty for a unit. */
  quadlet: QuadletFile[];
  /** The file it came from. */
  source: string;
}

/** The suffix of a desired unit file. */
export const UNIT_SUFFIX = '.service';
/** A subdirectory holding this file is allowed (skipped) in the desired directory. */
export const ALLOW_MARKER = '.reconcile-allowed';
const MAX_FILE_BYTES = 256 * 1024;

/** Where the desired state is and how it is read. */
export interface DesiredOptions {
  /** Subdirectories (and hidden names) of the desired directory that are allowed and skipped. */
  allowedDirs?: readonly string[];
  /** quadlet-deploy's transform directory: `NAME.container` applies to the sub-directory `NAME/`. */
  transformsDir?: string;
}

/** One file found in the desired directory, before it is grouped into containers. */
interface Found {
  name: string;
  file: string;
  content: string;
  source: string;
}

/**
 * Reads the whole desired directory and checks all of it before anything
 * changes. At the top: `<name>.service` units, or Quadlet files
 * (`<name>.container` or `<name>.kube`, with an optional `<name>.volume` and
 * `<name>.network`). A sub-directory `DIR/` whose transform `DIR.container`
 * is in `transformsDir` holds `.container` files that get it merged in
 * (quadlet-deploy's layout). Any other subdirectory is an error unless it is
 * listed in `allowedDirs` or holds a `.reconcile-allowed` file (a directory is
 * never skipped silently). Symlinks, other files and hidden files are errors
 * too, except the hidden names listed in `allowedDirs`.
 *
 * @example
 * ```ts
 * const { containers, problems } = readDesired('/var/lib/container-reconciler/repo', { allowedDirs: ['.git'], transformsDir: '/etc/container-reconciler/transforms' });
 * if (problems.length) console.error(problems);
 * ```
 */
export function readDesired(dir: string, options: DesiredOptions = {}): { containers: Container[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const { transforms, problems: transformProblems } = options.transformsDir ? readTransforms(options.transformsDir) : { transforms: new Map<string, QuadletSection[]>(), problems: [] };
  problems.push(...transformProblems);
  let found: Found[];
  try {
    found = readEntries(dir, '', problems, (subdirectory) => {
      if (options.allowedDirs?.includes(subdirectory)) return 'skip';
      if (transforms.has(subdirectory)) return 'transform';
      if (fs.existsSync(join(dir, subdirectory, ALLOW_MARKER))) return 'skip';
      problems.push({ message: `${subdirectory}/: unknown subdirectory: no transform ${subdirectory}.container${options.transformsDir ? ` in ${options.transformsDir}` : ' (no transform directory given)'}; list it in allowedDirs or put a ${ALLOW_MARKER} file in it to allow it` });
      return 'skip';
    }, options.allowedDirs ?? []);
  } catch (error) {
    return { containers: [], problems: [{ message: `cannot read the desired directory ${dir}: ${(error as Error).message}` }] };
  }
  for (const f of found) {
    const subdirectory = f.file.includes('/') ? f.file.slice(0, f.file.indexOf('/')) : undefined;
    if (subdirectory === undefined) continue;
    const parsed = parseSections(f.content);
    // A file that does not parse is reported by validateContainer; merge only what parses.
    if (parsed.problems.length === 0) f.content = formatSections(applyTransform(parsed.sections, transforms.get(subdirectory)!));
  }
  return { containers: group(found, problems), problems };
}

/** The regular files of `dir` (and of its transform sub-directories), sorted; every other entry is a problem. */
function readEntries(dir: string, relative: string, problems: Problem[], subdirectory: (name: string) => 'skip' | 'transform', allowed: readonly string[]): Found[] {
  const found: Found[] = [];
  const entries = fs.readdirSync(join(dir, relative), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const shown = relative ? `${relative}/${entry.name}` : entry.name;
    const path = join(dir, shown);
    if (relative === '' && allowed.includes(entry.name)) continue;
    if (entry.isDirectory()) {
      if (relative === '' && !entry.name.startsWith('.') && subdirectory(entry.name) === 'transform') found.push(...readEntries(dir, entry.name, problems, subdirectory, allowed));
      else if (relative !== '' || entry.name.startsWith('.')) problems.push({ message: `${shown}/: unknown subdirectory; list it in allowedDirs or put a ${ALLOW_MARKER} file in it to allow it` });
      continue;
    }
    if (entry.isSymbolicLink()) {
      problems.push({ message: `${shown}: is a symlink; desired files must be regular files` });
      continue;
    }
    const quadlet = quadletExtension(entry.name);
    const wanted = relative ? quadlet === '.container' : quadlet !== undefined || entry.name.endsWith(UNIT_SUFFIX);
    if (!entry.isFile() || !wanted || entry.name.startsWith('.')) {
      problems.push({ message: relative ? `${shown}: not a <name>.container file (a transform sub-directory holds .container files only)` : `${shown}: not a <name>${UNIT_SUFFIX} file nor a Quadlet file (<name>.container, .kube, .volume, .network)` });
      continue;
    }
    if (fs.statSync(path).size > MAX_FILE_BYTES) {
      problems.push({ key: entry.name.slice(0, entry.name.lastIndexOf('.')), message: `${shown}: larger than ${MAX_FILE_BYTES} bytes` });
      continue;
    }
    found.push({ name: entry.name.slice(0, entry.name.lastIndexOf('.')), file: shown, content: fs.readFileSync(path, 'utf8'), source: path });
  }
  return found;
}

/** Groups the files by container name: one unit, or one Quadlet workload with its volume and network. */
function group(found: readonly Found[], problems: Problem[]): Container[] {
  const byName = new Map<string, Found[]>();
  for (const f of found) byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
  const containers: Container[] = [];
  for (const [name, files] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const base = (f: Found) => f.file.slice(f.file.lastIndexOf('/') + 1);
    const workloads = files.filter((f) => f.file.endsWith(UNIT_SUFFIX) || ['.container', '.kube'].includes(quadletExtension(f.file) ?? ''));
    if (workloads.length !== 1) {
      problems.push({ key: name, message: workloads.length === 0 ? `${files.map((f) => f.file).join(', ')}: no ${name}.container or ${name}.kube for it to belong to` : `${workloads.map((f) => f.file).join(' and ')}: one container may have only one of <name>.service, <name>.container, <name>.kube` });
      continue;
    }
    const workload = workloads[0]!;
    if (workload.file.endsWith(UNIT_SUFFIX)) {
      if (files.length > 1) problems.push({ key: name, message: `${files.filter((f) => f !== workload).map((f) => f.file).join(', ')}: Quadlet files beside the unit ${workload.file}` });
      else containers.push({ name, kind: 'unit', unit: base(workload), content: workload.content, quadlet: [], source: workload.source });
      continue;
    }
    const duplicates = files.filter((f, i) => files.findIndex((g) => base(g) === base(f)) !== i);
    if (duplicates.length > 0) {
      problems.push({ key: name, message: `${duplicates.map((f) => f.file).join(', ')}: the same file name twice (at the top and in a transform sub-directory)` });
      continue;
    }
    const companions = files.filter((f) => f !== workload).sort((a, b) => (base(a) < base(b) ? -1 : 1));
    containers.push({
      name,
      kind: 'quadlet',
      unit: `${name}.service`,
      content: workload.content,
      quadlet: [workload, ...companions].map((f) => ({ file: base(f), content: f.content })),
      source: workload.source,
    });
  }
  return containers;
}

/**
 * Problems of one container, for the reconciler's `validate` hook: its name
 * must be a user name shadow accepts; a unit must be a unit file with a
 * `[Service]` section; every Quadlet file must be one Quadlet accepts
 * ({@link parseQuadletFile}).
 *
 * @example
 * ```ts
 * validateContainer({ name: 'Web!', kind: 'unit', unit: 'Web!.service', content: '', quadlet: [], source: '' }); // ['user name "Web!" must match ...', ...]
 * ```
 */
export function validateContainer(c: Container): string[] {
  const problems: string[] = [];
  try {
    validateUserName(c.name, 'container (user) name');
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (c.kind === 'quadlet') {
    for (const f of c.quadlet) {
      try {
        parseQuadletFile(f.file, f.content);
      } catch (error) {
        problems.push(error instanceof QuadletFileError ? error.message : `${f.file}: ${(error as Error).message}`);
      }
    }
    return problems;
  }
  try {
    validateUnitContent(c.content, c.unit);
    if (!/^\s*\[Service\]\s*$/m.test(c.content)) problems.push(`${c.unit} has no [Service] section`);
  } catch (error) {
    problems.push((error as Error).message);
  }
  return problems;
}
