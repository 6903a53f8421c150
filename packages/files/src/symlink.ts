import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, VerificationError, defineStep, validateAbsolutePath, renameDurably, syncDirectory, temporaryNameFor } from '@unwind/core';
import { UnexpectedFileTypeError } from './errors.js';
import { checkTemporaryName } from './journal-checks.js';
import { Identity, identityOfDescriptor, inDirectorySync } from './directory-handle.js';
import { checkSignal, lstatOrUndefined, safeReadlink, unlinkIfPresent } from './fsutil.js';

const SymlinkBefore = t.intersection([
  t.union([
    t.type({ existed: t.literal(false), temp: t.string }),
    t.type({ existed: t.literal(true), temp: t.string, target: t.string, uid: t.number, gid: t.number }),
  ]),
  /** The link's directory as prepare opened it: do and undo act only in that very directory. */
  t.partial({ parent: Identity }),
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
    return inDirectorySync(dirname(a.path), { phase: 'do', what: 'the directory of the link' }, (dir) => {
      const parent = identityOfDescriptor(dir.fd);
      const entry = dir.entry(basename(a.path));
      const st = lstatOrUndefined(entry);
      if (!st) return { existed: false as const, temp, parent };
      if (!st.isSymbolicLink()) throw new UnexpectedFileTypeError(`${a.path} exists and is not a symlink; refusing to replace it`, { path: a.path });
      return { existed: true as const, temp, target: fs.readlinkSync(entry), uid: st.uid, gid: st.gid, parent };
    });
  },
  do: async (a, before, ctx) => {
    checkSignal(ctx.signal);
    inDirectorySync(dirname(a.path), { expected: before.parent, phase: 'do', what: 'the directory of the link' }, (dir) => {
      const st = lstatOrUndefined(dir.entry(basename(a.path)));
      if (st && !st.isSymbolicLink()) throw new UnexpectedFileTypeError(`${a.path} exists and is not a symlink; refusing to replace it`, { path: a.path });
      linkAt(dir.entry(basename(a.path)), a.target, dir.entry(basename(before.temp)));
    });
  },
  verify: async (a) => {
    const target = safeReadlink(a.path);
    if (target !== a.target) throw new VerificationError(`${a.path} does not point to ${a.target} (${target ?? 'no link'})`, { path: a.path });
  },
  undo: async (a, before) => {
    inDirectorySync(dirname(a.path), { expected: before.parent, phase: 'undo', what: 'the directory of the link' }, (dir) => {
      const path = dir.entry(basename(a.path));
      if (unlinkIfPresent(dir.entry(basename(before.temp)))) syncDirectory(dir.self);
      const st = lstatOrUndefined(path);
      const current = st?.isSymbolicLink() ? fs.readlinkSync(path) : undefined;
      if (!before.existed && !st) return;
      if (before.existed && current === before.target && st!.uid === before.uid && st!.gid === before.gid) return;
      // Compare-and-swap: only the link this step made is removed or re-pointed.
      if (current !== a.target) {
        const found = !st ? 'nothing' : current === undefined ? (st.isDirectory() ? 'a directory' : 'a file') : `a symlink to ${current}`;
        throw new UndoConflictError(a.path, `a symlink to ${a.target}`, found, { path: a.path });
      }
      if (!before.existed) {
        fs.unlinkSync(path);
        syncDirectory(dir.self);
        return;
      }
      linkAt(path, before.target, dir.entry(`${basename(before.temp)}-undo`), before);
    });
  },
  verifyUndo: async (a, before) => {
    const target = safeReadlink(a.path);
    if ((before.existed ? before.target : undefined) !== target) throw new VerificationError(`${a.path} is not back to its before-state`, { path: a.path });
  },
  wouldChange: async (a) => safeReadlink(a.path) !== a.target,
});
