import * as fs from 'node:fs';
import { dirname } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, VerificationError, defineStep, syncDirectory, syncFile, validateAbsolutePath } from '@unwind/core';
import { SymlinkRefusedError, UnexpectedFileTypeError } from './errors.js';
import { checkExactly } from './journal-checks.js';
import { checkSignal, lstatOrUndefined, safeReadlink } from './fsutil.js';
import { describeFound, validateModeAndOwner } from './replace.js';

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

const EnsureDirBefore = t.type({
  /** Path components that were missing, top-down: exactly what undo removes. */
  missing: t.array(t.string),
  /** Mode and owner of the directory when it existed. */
  existing: t.union([t.null, t.type({ mode: t.number, uid: t.number, gid: t.number })]),
});

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
    if (missing.length > 0) return { missing, existing: null };
    const st = fs.lstatSync(a.path);
    return { missing, existing: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } };
  },
  do: async (a, before, ctx) => {
    for (const dir of before.missing) {
      checkSignal(ctx.signal);
      const leaf = dir === a.path;
      try {
        fs.mkdirSync(dir, { mode: 0o700 }); // private until mode and owner are final
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const st = fs.lstatSync(dir);
        if (!st.isDirectory()) throw new UnexpectedFileTypeError(`${dir} appeared and is not a directory`, { path: dir });
      }
      if (leaf) applyAttributes(dir, a, 0o755);
      else fs.chmodSync(dir, 0o755);
      syncFile(dir);
      syncDirectory(dirname(dir));
    }
    if (before.existing && (a.mode !== undefined || a.uid !== undefined || a.gid !== undefined)) {
      applyAttributes(a.path, a, undefined);
      syncFile(a.path);
    }
  },
  verify: async (a) => {
    const st = lstatOrUndefined(a.path);
    if (!st?.isDirectory()) throw new VerificationError(`${a.path} is not a directory`, { path: a.path });
    if (a.mode !== undefined && (st.mode & 0o7777) !== a.mode) throw new VerificationError(`${a.path} has mode ${(st.mode & 0o7777).toString(8)}, expected ${a.mode.toString(8)}`, { path: a.path });
    if ((a.uid !== undefined && st.uid !== a.uid) || (a.gid !== undefined && st.gid !== a.gid)) throw new VerificationError(`${a.path} is owned by ${st.uid}:${st.gid}`, { path: a.path });
  },
  undo: async (a, before) => {
    if (before.existing) undoAttributes(a, before.existing);
    for (const dir of [...before.missing].reverse()) {
      const st = lstatOrUndefined(dir);
      if (!st) continue;
      // Compare-and-swap: only the empty directory this step created is removed.
      if (!st.isDirectory()) throw new UndoConflictError(dir, 'the directory this step created', describeFound(dir, st), { path: dir });
      try {
        fs.rmdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
          throw new UndoConflictError(dir, 'the empty directory this step created', `a directory holding ${fs.readdirSync(dir).slice(0, 5).join(', ')}`, { path: dir });
        }
        throw error;
      }
      syncDirectory(dirname(dir));
    }
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

/** Puts an existing directory's mode and owner back, only while it has what this step set. */
function undoAttributes(a: EnsureDirArgs, existing: { mode: number; uid: number; gid: number }): void {
  const st = lstatOrUndefined(a.path);
  const now = st?.isDirectory() ? { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : undefined;
  if (now && now.mode === existing.mode && now.uid === existing.uid && now.gid === existing.gid) return;
  const set = { mode: a.mode ?? existing.mode, uid: a.uid ?? existing.uid, gid: a.gid ?? existing.gid };
  const describe = (x: typeof set) => `a directory with mode ${x.mode.toString(8)} owner ${x.uid}:${x.gid}`;
  if (!now || now.mode !== set.mode || now.uid !== set.uid || now.gid !== set.gid) {
    throw new UndoConflictError(a.path, describe(set), now ? describe(now) : describeFound(a.path, st), { path: a.path });
  }
  fs.lchownSync(a.path, existing.uid, existing.gid);
  fs.chmodSync(a.path, existing.mode);
  syncFile(a.path);
}

function applyAttributes(path: string, a: EnsureDirArgs, defaultMode: number | undefined): void {
  const st = fs.lstatSync(path);
  if ((a.uid !== undefined && a.uid !== st.uid) || (a.gid !== undefined && a.gid !== st.gid)) fs.lchownSync(path, a.uid ?? st.uid, a.gid ?? st.gid);
  const mode = a.mode ?? defaultMode;
  if (mode !== undefined) fs.chmodSync(path, mode); // after chown, which may clear set-id bits
}
