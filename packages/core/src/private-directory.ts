import * as fs from 'node:fs';
import { dirname, resolve } from 'node:path';
import { syncDirectory } from './durable.js';
import { UnsafeDirectoryError } from './errors.js';
import { MOST_LINKS, resolveNameByName } from './name-by-name.js';

/**
 * The StrictModes rule (as OpenSSH applies it to ~/.ssh) for the directories
 * unwind keeps private state in: journal roots, transaction directories, blob,
 * snapshot and staging stores. Whoever can write there can plant a journal
 * that makes root act, so only the running user may.
 *
 * The directory itself must be a real directory (lstat: never a symlink),
 * owned by the running user (effective uid), and not writable by group or
 * others. Every directory the path passes through, from `/` and as the
 * kernel resolves it (through every symlink, at any depth), must be owned by
 * root or the running user and not writable by group or others, unless it
 * has the sticky bit (like /tmp: others can add entries there, but cannot
 * rename or remove ours). Every symlink followed must be owned by root or
 * the running user too: in a sticky directory its owner may replace it, and
 * so point the path elsewhere after it was checked. Otherwise someone else
 * could swap the directory, or a directory above it, for one of their own.
 */

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

/**
 * Throws {@link UnsafeDirectoryError} unless `path` is a directory only the
 * running user can change (see above); `what` names it in the error
 * ("journal root", "blob store"). The directory must exist.
 *
 * @example
 * ```ts
 * makeDirectoryDurably(root, 0o700);
 * assertPrivateDirectory(root, 'journal root');
 * // UnsafeDirectoryError: journal root /var/lib/app/unwind is writable by group or others (mode 0777); refusing to use it
 * ```
 */
export function assertPrivateDirectory(path: string, what: string): void {
  const absolute = resolve(path);
  const uid = runningUid();
  checkItself(absolute, what, uid);
  checkAncestorsOf(dirname(absolute), absolute, what, uid);
}

/**
 * The ancestor rule on everything the kernel meets resolving `start`: `/`,
 * each directory it passes through, and each symlink it follows, at any
 * depth. A symlink's target is resolved the same way, from the directory
 * holding it (already checked) or from `/`: so a root-owned link to a
 * user's link is refused at the user's link, not followed past it.
 * Checking only the path as given and its final real path missed exactly
 * that link, which its owner could later point anywhere.
 */
function checkAncestorsOf(start: string, absolute: string, what: string, uid: number): void {
  checkEverythingMet(start, absolute, what, uid, false);
}

/**
 * The ancestor rule on every entry met resolving `start` (see
 * {@link checkAncestorsOf}); with `endsAtFile`, `start` is the file itself:
 * its own chain of symlinks is judged like any other, and the entry it ends
 * at may be a file (judged by the caller). Returns what it resolved to.
 */
function checkEverythingMet(start: string, absolute: string, what: string, uid: number, endsAtFile: boolean): string {
  checkLevel(look('/', absolute, what), '/', absolute, what, uid);
  const resolved = resolveNameByName(start, {
    lstat: (path) => look(path, absolute, what),
    meet: (path, st) => {
      // A symlink's owner may replace it where the directory holding it lets them (a sticky one does).
      if (st.isSymbolicLink()) {
        if (st.uid !== 0 && st.uid !== uid) throw new UnsafeDirectoryError(absolute, what, `has ${endsAtFile && path === start ? 'its own name' : 'an ancestor'} ${path}, a symlink owned by uid ${st.uid} (only root or the running user may own it)`);
        return;
      }
      // Anything but a directory can only be the last entry: a name below it does not resolve (look refuses it).
      if (!st.isDirectory()) {
        if (endsAtFile) return;
        throw new UnsafeDirectoryError(absolute, what, `has an ancestor ${path} that is not a directory`);
      }
      checkLevel(st, path, absolute, what, uid);
    },
  });
  // look() throws for a missing name: undefined is only ever too many links.
  if (resolved === undefined) throw new UnsafeDirectoryError(absolute, what, `has more than ${MOST_LINKS} symlinks on the way to ${start}`);
  return resolved;
}

/** The lstat of an ancestor, or the refusal that names it. */
function look(dir: string, path: string, what: string): fs.Stats {
  try {
    return fs.lstatSync(dir);
  } catch (error) {
    throw new UnsafeDirectoryError(path, what, `has an ancestor ${dir} that cannot be examined (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * Makes `path` a private directory (mode 0700, as {@link assertPrivateDirectory}
 * requires) unless it exists, then checks it like assertPrivateDirectory. A
 * missing directory is made one level at a time, and only below directories
 * that pass the ancestor rule: the deepest existing one is checked up to `/`
 * before anything is made, and each level, whether made here or by someone
 * else meanwhile, is checked before the next is made in it. So nothing is
 * made, and no mode is set, under a directory another user can change; the
 * mode is set through a descriptor opened without following a symlink. Each
 * new entry is synced into its parent, and the new directory itself, as
 * {@link makeDirectoryDurably} does.
 *
 * @example
 * ```ts
 * makePrivateDirectory('/var/lib/app/unwind', 'journal root');
 * // UnsafeDirectoryError: journal root /home/alice/unwind has an ancestor /home/alice owned by uid 1000 (only root or the running user may own it)
 * ```
 */
export function makePrivateDirectory(path: string, what: string): void {
  const absolute = resolve(path);
  const st = lstatIfPresent(absolute);
  if (st === undefined) {
    makeLevels(absolute, what);
    assertPrivateDirectory(absolute, what);
    return;
  }
  // It exists: the lstat just taken is judged, not taken again (once per transaction).
  const uid = runningUid();
  judgeItself(st, absolute, what, uid);
  checkAncestorsOf(dirname(absolute), absolute, what, uid);
}

/**
 * `lstat`, or undefined when there is no such entry — also when a component
 * above it is not a directory (ENOTDIR), which `throwIfNoEntry: false` alone
 * still throws. Any other error is thrown.
 *
 * @example
 * ```ts
 * lstatIfPresent('/etc/passwd/x'); // undefined: /etc/passwd is a file
 * ```
 */
export function lstatIfPresent(path: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function makeLevels(absolute: string, what: string): void {
  const uid = runningUid();
  const missing: string[] = [];
  let existing = absolute;
  while (lstatIfPresent(existing) === undefined) {
    missing.unshift(existing);
    existing = dirname(existing);
  }
  if (!fs.statSync(existing).isDirectory()) throw new UnsafeDirectoryError(absolute, what, `has an ancestor ${existing} that is not a directory`);
  checkAncestorsOf(existing, absolute, what, uid);
  for (const dir of missing) {
    let made = true;
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      made = false; // made by someone else meanwhile: judged like any ancestor below
    }
    const st = fs.lstatSync(dir);
    if (st.isSymbolicLink() || !st.isDirectory()) throw new UnsafeDirectoryError(absolute, what, `has an ancestor ${dir} that turned into ${st.isSymbolicLink() ? 'a symlink' : 'a non-directory'} while it was made`);
    checkLevel(st, dir, absolute, what, uid);
    if (made) syncDirectory(dirname(dir));
  }
  // The umask may have narrowed the mode; set it exactly, on the directory itself, never through a symlink.
  const fd = fs.openSync(absolute, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    fs.fchmodSync(fd, 0o700);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Throws {@link UnsafeDirectoryError} unless the file `path` can be changed
 * by nobody but root or the running user: a regular file owned by one of
 * them and not writable by group or others, with every directory and
 * symlink above it (along the path as given and along its real path) passing
 * the ancestor rule of {@link assertPrivateDirectory}; `path` itself may be
 * a symlink only when root or the running user owns it. For code unwind is
 * about to run with its privileges (a step-kinds module `unwind recover`
 * imports). Returns the file's real path: load that one, so a link changed
 * after the check cannot redirect the load.
 *
 * @example
 * ```ts
 * const real = assertTrustedFile('/opt/acme/steps.mjs', 'kinds module');
 * await import(pathToFileURL(real).href);
 * // UnsafeDirectoryError: kinds module /home/alice/steps.mjs is owned by uid 1000 (only root or the running user may own it); refusing to use it
 * ```
 */
export function assertTrustedFile(path: string, what: string): string {
  return assertTrusted(path, what, 'file');
}

/** {@link assertTrustedFile} for a regular file, or for a directory nobody else can add an entry to (no sticky exception for it). */
function assertTrusted(path: string, what: string, kind: 'file' | 'directory'): string {
  const absolute = resolve(path);
  const uid = runningUid();
  let real: string;
  try {
    real = fs.realpathSync(absolute);
  } catch (error) {
    throw new UnsafeDirectoryError(absolute, what, `cannot be resolved (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const st = fs.statSync(real);
  if (kind === 'file' && !st.isFile()) throw new UnsafeDirectoryError(absolute, what, `is not a regular file (${real})`);
  if (kind === 'directory' && !st.isDirectory()) throw new UnsafeDirectoryError(absolute, what, `is not a directory (${real})`);
  if (st.uid !== 0 && st.uid !== uid) throw new UnsafeDirectoryError(absolute, what, `is owned by uid ${st.uid} (only root or the running user may own it)`);
  if (st.mode & GROUP_OR_OTHER_WRITE) throw new UnsafeDirectoryError(absolute, what, `is writable by group or others (mode ${modeOf(st)})`);
  const own = fs.lstatSync(absolute);
  if (own.isSymbolicLink() && own.uid !== 0 && own.uid !== uid) throw new UnsafeDirectoryError(absolute, what, `is a symlink owned by uid ${own.uid} (only root or the running user may own it)`);
  // The whole way, the path's own chain of links included: a root-owned link to a link another user
  // owns (or that lies in a directory they can change) is refused there, since they could point it
  // at their own file between this check and the use of the path as given.
  const resolved = checkEverythingMet(absolute, absolute, what, uid, true);
  if (resolved !== real) throw new UnsafeDirectoryError(absolute, what, `changed while it was checked (it led to ${real}, then to ${resolved})`);
  return real;
}

/**
 * {@link assertTrustedFile} as data, for a caller that words its own
 * refusal (a program `runCommand` passes over, a module or transaction file
 * the CLI refuses): the file's real path; or `reason`, what is wrong,
 * worded `"<what> <path> <why>"`; or `missing`, the error code, when the
 * path does not resolve. Any other error is thrown.
 *
 * @example
 * ```ts
 * const judged = judgeTrustedFile('/home/alice/install.yaml', 'transaction file');
 * // { reason: 'transaction file /home/alice/install.yaml is owned by uid 1000 (only root or the running user may own it)' }
 * ```
 */
export function judgeTrustedFile(path: string, what: string): { real: string } | { reason: string } | { missing: string } {
  return judgeTrusted(path, what, 'file');
}

/**
 * {@link judgeTrustedFile} for a directory: one nobody but root or the
 * running user can add an entry to or change, the directory itself not
 * writable by group or others even when sticky (anyone may add a name to
 * /tmp), every directory and symlink above it as for a file. For a PATH
 * entry a program unwind starts will search: a name found there runs as root.
 *
 * @example
 * ```ts
 * judgeTrustedDirectory('/tmp', 'PATH entry');
 * // { reason: 'PATH entry /tmp is writable by group or others (mode 1777)' }
 * ```
 */
export function judgeTrustedDirectory(path: string, what: string): { real: string } | { reason: string } | { missing: string } {
  return judgeTrusted(path, what, 'directory');
}

/**
 * Throws {@link UnsafeDirectoryError} unless nobody but root or the running
 * user can change what is in the directory `path` ({@link judgeTrustedDirectory}),
 * or, when it does not exist yet, unless nobody else could make it: its
 * nearest existing ancestor must pass the same rule. For a directory root
 * is about to create or write into by path (a status file's), or whose
 * contents decide what root does (a linger directory).
 *
 * @example
 * ```ts
 * assertTrustedDirectory('/var/lib/app/status', 'status directory'); // passes, missing or not
 * assertTrustedDirectory('/tmp/app', 'status directory');
 * // UnsafeDirectoryError: status directory /tmp/app does not exist, and another user could make it: ... /tmp is writable by group or others (mode 1777); refusing to use it
 * ```
 */
export function assertTrustedDirectory(path: string, what: string): void {
  const absolute = resolve(path);
  if (lstatIfPresent(absolute) !== undefined) {
    const judged = judgeTrustedDirectory(absolute, what);
    if ('real' in judged) return;
    throw new UnsafeDirectoryError(absolute, what, 'reason' in judged ? judged.reason.slice(`${what} ${absolute} `.length) : `cannot be resolved (${judged.missing})`);
  }
  let ancestor = dirname(absolute);
  while (ancestor !== '/' && lstatIfPresent(ancestor) === undefined) ancestor = dirname(ancestor);
  const judged = judgeTrustedDirectory(ancestor, 'its nearest existing directory');
  if ('real' in judged) return;
  const why = 'reason' in judged ? judged.reason : `its nearest existing directory ${ancestor} cannot be resolved (${judged.missing})`;
  throw new UnsafeDirectoryError(absolute, what, `does not exist, and another user could make it: ${why}`);
}

function judgeTrusted(path: string, what: string, kind: 'file' | 'directory'): { real: string } | { reason: string } | { missing: string } {
  try {
    return { real: assertTrusted(path, what, kind) };
  } catch (error) {
    if (!(error instanceof UnsafeDirectoryError)) throw error;
    const why = String(error.context.reason);
    const missing = /^cannot be resolved \((\w+)\)/.exec(why);
    if (missing) return { missing: missing[1]! };
    return { reason: `${what} ${String(error.context.path)} ${why}` };
  }
}

/**
 * The checks of {@link assertPrivateDirectory} on `path` itself, without its
 * ancestors: for a directory this process has just made (mkdir, never
 * following a symlink) inside one that has just passed
 * assertPrivateDirectory. Only the running user or root can change anything
 * above it, so walking up to `/` again would find what the parent's check
 * found (a transaction directory in its journal root: `begin`). Returns the
 * directory's lstat.
 */
export function assertPrivateChildDirectory(path: string, what: string): fs.Stats {
  return checkItself(resolve(path), what, runningUid());
}

/** A real directory (never a symlink), owned by `uid`, not writable by group or others; returns its lstat. */
function checkItself(absolute: string, what: string, uid: number): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(absolute);
  } catch (error) {
    throw new UnsafeDirectoryError(absolute, what, `cannot be examined (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  judgeItself(st, absolute, what, uid);
  return st;
}

/** {@link checkItself} on an lstat already taken. */
function judgeItself(st: fs.Stats, absolute: string, what: string, uid: number): void {
  if (st.isSymbolicLink()) throw new UnsafeDirectoryError(absolute, what, `is a symlink (to ${safeReadlink(absolute)})`);
  if (!st.isDirectory()) throw new UnsafeDirectoryError(absolute, what, 'is not a directory');
  if (st.uid !== uid) throw new UnsafeDirectoryError(absolute, what, `is owned by uid ${st.uid}, not by the running user (uid ${uid})`);
  if (st.mode & GROUP_OR_OTHER_WRITE) throw new UnsafeDirectoryError(absolute, what, `is writable by group or others (mode ${modeOf(st)})`);
}

/** One directory on the way: owned by root or the running user, not writable by group or others unless sticky. */
function checkLevel(st: fs.Stats, dir: string, path: string, what: string, uid: number): void {
  if (st.uid !== 0 && st.uid !== uid) throw new UnsafeDirectoryError(path, what, `has an ancestor ${dir} owned by uid ${st.uid} (only root or the running user may own it)`);
  if (st.mode & GROUP_OR_OTHER_WRITE && !(st.mode & STICKY)) throw new UnsafeDirectoryError(path, what, `has an ancestor ${dir} writable by group or others (mode ${modeOf(st)})`);
}

/**
 * The user this process acts as (its effective uid): who must own what it trusts.
 *
 * @example
 * ```ts
 * if (fs.fstatSync(fd).uid !== runningUid()) throw new Error('not ours');
 * ```
 */
export function runningUid(): number {
  return process.geteuid?.() ?? process.getuid?.() ?? 0;
}

/**
 * Whether `uid` is one this process trusts with what it acts on: root or
 * the user it acts as ({@link runningUid}). A `bigint` (from a `bigint`
 * stat) is compared as one.
 *
 * @example
 * ```ts
 * if (!isTrustedOwner(fs.lstatSync(dir).uid)) throw new Error(`${dir} is another user's`);
 * ```
 */
export function isTrustedOwner(uid: number | bigint): boolean {
  return typeof uid === 'bigint' ? uid === 0n || uid === BigInt(runningUid()) : uid === 0 || uid === runningUid();
}

function modeOf(st: fs.Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

function safeReadlink(path: string): string {
  try {
    return fs.readlinkSync(path);
  } catch {
    return '?';
  }
}
