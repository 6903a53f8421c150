import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, VerificationError, defineStep, syncDescriptor, syncDirectory, validateAbsolutePath } from '@unwind/core';
import { SymlinkRefusedError, UnexpectedFileTypeError } from './errors.js';
import { checkExactly } from './journal-checks.js';
import { checkSignal, lstatOrUndefined, safeReadlink } from './fsutil.js';
import { describeFound, validateModeAndOwner } from './replace.js';
import { directoryIdentity, Identity, inDirectorySync, type DirectoryHandle } from './directory-handle.js';
import { inspectTarget } from './attributes.js';

const EnsureDirArgs = t.intersection([
  t.type({ /** Absolute path of the directory. Missing parents are created (mode 0o755). */ path: t.string }),
  t.partial({ /** Mode of the directory. Default 0o755 for a new one; an existing one keeps its mode unless given. */ mode: t.number, uid: t.number, gid: t.number }),
]);

/**
 * Arguments of {@link ensureDir}.
 *
 * @example
 * ```ts
 * const args: EnsureDirArgs = { path: '/var/lib/app', mode: 0o750, uid: 998, gid: 998 };
 * ```
 */
export type EnsureDirArgs = t.TypeOf<typeof EnsureDirArgs>;

const EnsureDirBefore = t.intersection([t.type({
  /** Path components that were missing, top-down: exactly what undo removes. */
  missing: t.array(t.string),
  /** Mode and owner of the directory when it existed. */
  existing: t.union([t.null, t.type({ mode: t.number, uid: t.number, gid: t.number })]),
}), t.partial({
  /** The existing directory the missing ones are made in (symlinks on its path resolved), as prepare found it. */
  anchor: Identity,
  /** The existing directory itself, as prepare found it. */
  entry: Identity,
})]);

/**
 * Before-state of {@link ensureDir}: the components it will create, or the mode/owner of the existing directory.
 *
 * @example
 * ```ts
 * const before: EnsureDirBefore = { missing: ['/var/lib/app', '/var/lib/app/cache'], existing: null };
 * ```
 */
export type EnsureDirBefore = t.TypeOf<typeof EnsureDirBefore>;

/**
 * Makes sure a directory exists with the given mode and owner (on the
 * directory itself; missing parents get 0o755 and the process's owner). The
 * before-state records which path components were missing, so undo removes
 * exactly those — never a directory that was already there — and puts back an
 * existing directory's mode and owner. A symlink anywhere on the created part
 * is refused.
 *
 * @example
 * ```ts
 * import { ensureDir } from '@unwind/files';
 * tx.add(ensureDir({ path: '/var/lib/app/cache', mode: 0o750, uid: 998, gid: 998 }));
 * ```
 */
export const ensureDir = defineStep({
  type: 'files.ensureDir',
  package: '@unwind/files',
  args: EnsureDirArgs,
  before: EnsureDirBefore,
  validate: (a) => {
    validateAbsolutePath(a.path, { what: 'path' });
    if (a.path === '/') throw new InvalidInputError('ensureDir of / makes no sense', { path: a.path });
    validateModeAndOwner(a);
  },
  validateJournaled: (a, before) => {
    // Undo removes exactly these: they must be the argument and its own ancestors, top-down, ending at it.
    before.missing.forEach((dir, i) => {
      const expected = i === before.missing.length - 1 ? a.path : dirname(before.missing[i + 1]!);
      checkExactly(dir, expected, 'files.ensureDir missing directory');
    });
  },
  describe: (a) => `ensure directory ${a.path}${a.mode === undefined ? '' : ` (mode ${a.mode.toString(8)})`}`,
  prepare: async (a) => {
    const missing: string[] = [];
    let path = a.path;
    for (;;) {
      const st = lstatOrUndefined(path);
      if (st) {
        if (st.isSymbolicLink() && path === a.path) throw new SymlinkRefusedError(path, safeReadlink(path));
        // An existing ancestor may be a symlink (e.g. /var/run -> /run): the system's own layout.
        if (!fs.statSync(path).isDirectory()) throw new UnexpectedFileTypeError(`${path} exists and is not a directory`, { path });
        break;
      }
      missing.unshift(path);
      path = dirname(path);
    }
    if (missing.length > 0) {
      // Reached component by component: a symlink on the way that someone else controls is refused here.
      return { missing, existing: null, anchor: directoryIdentity(path, { what: 'the existing directory', follow: true }) };
    }
    // Attributes and identity from one descriptor: two lookups could describe two directories.
    const { mode, uid, gid, entry } = inspectTarget(a.path);
    return { missing, existing: { mode, uid, gid }, entry };
  },
  do: async (a, before, ctx) => {
    if (before.missing.length > 0) createMissing(a, before, ctx.signal);
    if (before.existing && (a.mode !== undefined || a.uid !== undefined || a.gid !== undefined)) {
      checkSignal(ctx.signal);
      inDirectorySync(a.path, { expected: before.entry, phase: 'do', what: 'the directory' }, (dir) => {
        applyAttributes(dir.fd, a, undefined);
        syncDescriptor(dir.fd, a.path);
      });
    }
  },
  verify: async (a) => {
    const st = lstatOrUndefined(a.path);
    if (!st?.isDirectory()) throw new VerificationError(`${a.path} is not a directory`, { path: a.path });
    if (a.mode !== undefined && (st.mode & 0o7777) !== a.mode) throw new VerificationError(`${a.path} has mode ${(st.mode & 0o7777).toString(8)}, expected ${a.mode.toString(8)}`, { path: a.path });
    if ((a.uid !== undefined && st.uid !== a.uid) || (a.gid !== undefined && st.gid !== a.gid)) throw new VerificationError(`${a.path} is owned by ${st.uid}:${st.gid}`, { path: a.path });
  },
  undo: async (a, before) => {
    if (before.existing) undoAttributes(a, before.existing, before.entry);
    if (before.missing.length > 0) removeCreated(before);
  },
  verifyUndo: async (a, before) => {
    if (before.missing.length > 0 && lstatOrUndefined(before.missing[0]!)) throw new VerificationError(`${before.missing[0]} should not exist after undo`, { path: a.path });
  },
  wouldChange: async (a) => {
    const st = lstatOrUndefined(a.path);
    if (!st?.isDirectory()) return true;
    return (a.mode !== undefined && (st.mode & 0o7777) !== a.mode) || (a.uid !== undefined && st.uid !== a.uid) || (a.gid !== undefined && st.gid !== a.gid);
  },
});

/**
 * Makes the missing directories top-down, each one in the directory opened
 * just before it (the first in the existing directory prepare found, compared
 * by device and inode), and opens each new one with O_NOFOLLOW before its
 * mode and owner are set through the descriptor: a component swapped for a
 * symlink is refused, never followed, so a chmod never lands elsewhere.
 * They are synced once each, on the way back up; before that sync nothing
 * refers to them (an interrupted `do` is undone from what prepare recorded).
 */
function createMissing(a: EnsureDirArgs, before: EnsureDirBefore, signal: AbortSignal): void {
  const make = (dir: DirectoryHandle, i: number): void => {
    const path = before.missing[i];
    if (path === undefined) return;
    checkSignal(signal);
    const entry = dir.entry(basename(path));
    try {
      fs.mkdirSync(entry, { mode: 0o700 }); // private until mode and owner are final
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const st = fs.lstatSync(entry);
      if (st.isSymbolicLink()) throw new SymlinkRefusedError(path, safeReadlink(entry));
      if (!st.isDirectory()) throw new UnexpectedFileTypeError(`${path} appeared and is not a directory`, { path });
    }
    inDirectorySync(entry, { phase: 'do', what: 'the directory' }, (child) => {
      if (path === a.path) applyAttributes(child.fd, a, 0o755);
      else fs.fchmodSync(child.fd, 0o755);
      make(child, i + 1);
      // Synced bottom-up, each once: a directory's inode is durable before the entry naming it
      // (its parent's sync comes next), and one sync covers its mode and its child's entry together.
      syncDescriptor(child.fd, path);
      if (i === 0) syncDirectory(dir.self);
    });
  };
  inDirectorySync(dirname(before.missing[0]!), { expected: before.anchor, phase: 'do', follow: true, what: 'the existing directory' }, (dir) => make(dir, 0));
}

/**
 * Removes the directories this step created, bottom-up, each through the
 * directory above it (opened from the existing one prepare found, compared
 * by inode). Compare-and-swap: only an empty directory is removed; anything
 * else there is an UndoConflictError and stays.
 */
function removeCreated(before: EnsureDirBefore): void {
  const anchor = dirname(before.missing[0]!);
  if (!fs.existsSync(anchor)) return; // gone, and with it everything this step made below it
  const remove = (dir: DirectoryHandle, i: number): void => {
    const path = before.missing[i];
    if (path === undefined) return;
    const entry = dir.entry(basename(path));
    const st = lstatOrUndefined(entry);
    if (!st) return; // never made (nor anything below it), or already removed
    if (!st.isDirectory()) throw new UndoConflictError(path, 'the directory this step created', describeFound(entry, st), { path });
    inDirectorySync(entry, { phase: 'undo', what: 'the directory this step created' }, (child) => remove(child, i + 1));
    try {
      fs.rmdirSync(entry);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
        throw new UndoConflictError(path, 'the empty directory this step created', `a directory holding ${fs.readdirSync(entry).slice(0, 5).join(', ')}`, { path });
      }
      throw error;
    }
    syncDirectory(dir.self);
  };
  inDirectorySync(anchor, { expected: before.anchor, phase: 'undo', follow: true, what: 'the existing directory' }, (dir) => remove(dir, 0));
}

/** Puts an existing directory's mode and owner back, through the directory opened with O_NOFOLLOW, only while it has what this step set. */
function undoAttributes(a: EnsureDirArgs, existing: { mode: number; uid: number; gid: number }, identity: Identity | undefined): void {
  const set = { mode: a.mode ?? existing.mode, uid: a.uid ?? existing.uid, gid: a.gid ?? existing.gid };
  const describe = (x: typeof set) => `a directory with mode ${x.mode.toString(8)} owner ${x.uid}:${x.gid}`;
  const st = lstatOrUndefined(a.path);
  if (!st?.isDirectory()) throw new UndoConflictError(a.path, describe(set), describeFound(a.path, st), { path: a.path });
  inDirectorySync(a.path, { expected: identity, phase: 'undo', what: 'the directory' }, (dir) => {
    const now = fs.fstatSync(dir.fd);
    const state = { mode: now.mode & 0o7777, uid: now.uid, gid: now.gid };
    if (state.mode === existing.mode && state.uid === existing.uid && state.gid === existing.gid) return;
    if (state.mode !== set.mode || state.uid !== set.uid || state.gid !== set.gid) throw new UndoConflictError(a.path, describe(set), describe(state), { path: a.path });
    fs.fchownSync(dir.fd, existing.uid, existing.gid);
    fs.fchmodSync(dir.fd, existing.mode);
    syncDescriptor(dir.fd, a.path);
  });
}

/** Sets owner, then mode (chown may clear set-id bits), through the directory's own descriptor. */
function applyAttributes(fd: number, a: EnsureDirArgs, defaultMode: number | undefined): void {
  const st = fs.fstatSync(fd);
  if ((a.uid !== undefined && a.uid !== st.uid) || (a.gid !== undefined && a.gid !== st.gid)) fs.fchownSync(fd, a.uid ?? st.uid, a.gid ?? st.gid);
  const mode = a.mode ?? defaultMode;
  if (mode !== undefined) fs.fchmodSync(fd, mode);
}
