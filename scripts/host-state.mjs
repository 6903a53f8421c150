// What the test run must leave exactly as it found on the host: the files
// that shadow tools, logind and systemd write (/etc, lastlog, faillog,
// /var/lib/systemd), the mount table, the cgroups of systemd's hierarchies,
// and processes. scripts/test.mjs takes one picture before the run and one
// after, and fails the run on any difference.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';

/** Directories listed recursively (type, mode, owner, size, content hash, link target). */
const TREES = ['/etc', '/var/lib/systemd'];
/** Single files hashed (`useradd` writes lastlog/faillog even with `-P`). */
const FILES = ['/var/log/lastlog', '/var/log/faillog'];

function describe(path) {
  let stat;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return 'absent';
  }
  const owner = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
  if (stat.isSymbolicLink()) return `link ${owner} -> ${fs.readlinkSync(path)}`;
  if (stat.isDirectory()) return `dir ${owner}`;
  if (stat.isFile()) {
    let hash;
    try {
      hash = createHash('sha256').update(fs.readFileSync(path)).digest('hex');
    } catch (error) {
      hash = `unreadable (${error.code})`;
    }
    return `file ${owner} ${stat.size} ${hash}`;
  }
  return `special ${owner}`;
}

function walk(dir, into) {
  into[dir] = describe(dir);
  let entries = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, into);
    else into[path] = describe(path);
  }
}

/** Mount points of this (the host's) mount namespace: source, target, type. */
function mounts() {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [left, right] = line.split(' - ');
      const fields = left.split(' ');
      const [type, source] = right.split(' ');
      return `${fields[4]} ${type} ${source}`;
    })
    .sort();
}

/**
 * The cgroups of the hierarchies systemd uses (the unified one, a hybrid
 * layout's name=systemd): a machine's system manager and a user manager
 * make theirs there, and a run must remove every one it made.
 */
function cgroups() {
  const found = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n')) {
    const [left, right] = line.split(' - ');
    const mountPoint = left.split(' ')[4];
    const [type, , options = ''] = right.split(' ');
    if (type !== 'cgroup2' && !(type === 'cgroup' && options.split(',').includes('name=systemd'))) continue;
    const visit = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        found.push(`${type} ${join(dir, entry.name).slice(mountPoint.length)}`);
        visit(join(dir, entry.name));
      }
    };
    try {
      visit(mountPoint);
    } catch {
      // a cgroup removed while we looked
    }
  }
  return found.sort();
}

/** Pids of the host's processes now. */
export function processIds() {
  return new Set(fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number));
}

/**
 * Host processes that were not there at `before` and carry `marker` in their
 * environment: something this run started (directly or through a child) that
 * is still alive. Processes of other programs on the host are not counted.
 */
export function leftoverProcesses(before, marker) {
  const left = [];
  for (const pid of processIds()) {
    if (before.has(pid) || pid === process.pid) continue;
    try {
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (environ.includes(marker)) left.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`);
    } catch {
      // ended while we looked, or a kernel thread
    }
  }
  return left;
}

/** One picture of everything the run must not change. */
export function hostState() {
  const files = {};
  for (const tree of TREES) walk(tree, files);
  for (const file of FILES) files[file] = describe(file);
  return { files, mounts: mounts(), cgroups: cgroups() };
}

/**
 * Human-readable differences between two pictures; empty when they are the
 * same. `ownCgroups`: the directories of this run's machine (Machine.cgroups).
 * A cgroup new since `before` counts when it is in this run's machine, or in
 * no machine's or user manager's cgroup at all; another run's machine (one
 * running beside this one) makes and removes its own.
 */
export function hostDifferences(before, after, ownCgroups = []) {
  const differences = [];
  const paths = new Set([...Object.keys(before.files), ...Object.keys(after.files)]);
  for (const path of [...paths].sort()) {
    const was = before.files[path] ?? 'absent';
    const is = after.files[path] ?? 'absent';
    if (was !== is) differences.push(`${path}: ${was} -> ${is}`);
  }
  const mountsBefore = new Set(before.mounts);
  const mountsAfter = new Set(after.mounts);
  for (const mount of mountsAfter) if (!mountsBefore.has(mount)) differences.push(`new mount: ${mount}`);
  for (const mount of mountsBefore) if (!mountsAfter.has(mount)) differences.push(`mount gone: ${mount}`);
  const cgroupsBefore = new Set(before.cgroups);
  // Their names end in a random part, so a name alone says whose they are.
  const own = ownCgroups.map((directory) => `/${directory.split('/').pop()}`);
  const counts = (cgroup) => {
    const path = `${cgroup.slice(cgroup.indexOf(' ') + 1)}/`;
    return own.some((name) => path.includes(`${name}/`)) || !/\/unwind-(machine|user-manager)-[0-9a-f]+\//.test(path);
  };
  for (const cgroup of after.cgroups) if (!cgroupsBefore.has(cgroup) && counts(cgroup)) differences.push(`new cgroup: ${cgroup}`);
  return differences;
}
