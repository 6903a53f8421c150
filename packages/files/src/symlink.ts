import * as fs from 'node:fs';
import { dirname } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, VerificationError, defineStep, validateAbsolutePath, renameDurably, syncDirectory, temporaryNameFor } from '@unwind/core';
import { UnexpectedFileTypeError } from './errors.js';
import { checkTemporaryName } from './journal-checks.js';
import { checkSignal, lstatOrUndefined, safeReadlink, unlinkIfPresent } from './fsutil.js';

const SymlinkBefore = t.union([
  t.type({ existed: t.literal(false), temp: t.string }),
  t.type({ existed: t.literal(true), temp: t.string, target: t.string, uid: t.number, gid: t.number }),
]);

/**
 * Before-state of {@link symlink}: no link, or the old link's target and owner.
 *
 * @example
 * ```ts
 * const before: SymlinkBefore = { existed: true, temp: '/opt/app/.current.unwind-…', target: 'releases/1', uid: 0, gid: 0 };
 * ```
 */
export type SymlinkBefore = t.TypeOf<typeof SymlinkBefore>;

function linkAt(path: string, target: string, temp: string, owner?: { uid: number; gid: number }): void {
  unlinkIfPresent(temp);
  fs.symlinkSync(target, temp);
  if (owner) fs.lchownSync(temp, owner.uid, owner.gid);
  renameDurably(temp, path); // atomic: the path always names the old link or the new one
}

/**
 * Creates (or re-points) a symbolic link at `path` pointing to `target`,
 * atomically (a temp link renamed over the path). Replaces only a missing
 * path or an existing symlink, never a file or directory. Undo removes the
 * link or re-points it to its old target, only while the path is still the
 * link this step made (else UndoConflictError, untouched).
 *
 * @example
 * ```ts
 * import { symlink } from '@unwind/files';
 * tx.add(symlink({ path: '/opt/app/current', target: '/opt/app/releases/2024-06-01' }));
 * ```
 */
export const symlink = defineStep({
  type: 'files.symlink',
  package: '@unwind/files',
  args: t.type({ /** Where the link is made. */ path: t.string, /** What it points to (stored verbatim; may be relative). */ target: t.string }),
  before: SymlinkBefore,
  validate: (a) => {
    validateAbsolutePath(a.path, { what: 'path' });
    if (a.path === '/') throw new InvalidInputError('refusing to put a symlink at /', { path: a.path });
    if (a.target === '' || a.target.includes('\0')) throw new InvalidInputError('symlink target must be a non-empty string without NUL', { target: a.target });
  },
  validateJournaled: (a, before) => checkTemporaryName(a.path, before.temp, 'files.symlink'),
  describe: (a) => `symlink ${a.path} -> ${a.target}`,
  prepare: async (a) => {
    if (!lstatOrUndefined(dirname(a.path))?.isDirectory()) throw new UnexpectedFileTypeError(`the directory of ${a.path} does not exist`, { path: a.path });
    const temp = temporaryNameFor(a.path);
    const st = lstatOrUndefined(a.path);
    if (!st) return { existed: false as const, temp };
    if (!st.isSymbolicLink()) throw new UnexpectedFileTypeError(`${a.path} exists and is not a symlink; refusing to replace it`, { path: a.path });
    return { existed: true as const, temp, target: fs.readlinkSync(a.path), uid: st.uid, gid: st.gid };
  },
  do: async (a, before, ctx) => {
    checkSignal(ctx.signal);
    const st = lstatOrUndefined(a.path);
    if (st && !st.isSymbolicLink()) throw new UnexpectedFileTypeError(`${a.path} exists and is not a symlink; refusing to replace it`, { path: a.path });
    linkAt(a.path, a.target, before.temp);
  },
  verify: async (a) => {
    const target = safeReadlink(a.path);
    if (target !== a.target) throw new VerificationError(`${a.path} does not point to ${a.target} (${target ?? 'no link'})`, { path: a.path });
  },
  undo: async (a, before) => {
    if (unlinkIfPresent(before.temp)) syncDirectory(dirname(a.path));
    const st = lstatOrUndefined(a.path);
    const current = st?.isSymbolicLink() ? fs.readlinkSync(a.path) : undefined;
    if (!before.existed && !st) return;
    if (before.existed && current === before.target && st!.uid === before.uid && st!.gid === before.gid) return;
    // Compare-and-swap: only the link this step made is removed or re-pointed.
    if (current !== a.target) {
      const found = !st ? 'nothing' : current === undefined ? (st.isDirectory() ? 'a directory' : 'a file') : `a symlink to ${current}`;
      throw new UndoConflictError(a.path, `a symlink to ${a.target}`, found, { path: a.path });
    }
    if (!before.existed) {
      fs.unlinkSync(a.path);
      syncDirectory(dirname(a.path));
      return;
    }
    linkAt(a.path, before.target, `${before.temp}-undo`, before);
  },
  verifyUndo: async (a, before) => {
    const target = safeReadlink(a.path);
    if ((before.existed ? before.target : undefined) !== target) throw new VerificationError(`${a.path} is not back to its before-state`, { path: a.path });
  },
  wouldChange: async (a) => safeReadlink(a.path) !== a.target,
});
