import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, VerificationError, defineStep, validateAbsolutePath, renameDurably, syncDirectory, temporaryNameFor } from '@unwind/core';
import { UnexpectedFileTypeError } from './errors.js';
import { checkTemporaryName } from './journal-checks.js';
import { type DirectoryHandle, Identity, identityOfDescriptor, inDirectorySync } from './directory-handle.js';
import { checkSignal, lstatOrUndefined, safeReadlink, unlinkIfPresent } from './fsutil.js';
import { heldIn, holderIfAny, makeHolder, removeHolder } from './holder.js';

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

/**
 * Puts a new link at `path` by way of `temp`: the path always names the old
 * link or the new one. Never chowned here: by the time of a chown, what is at
 * a temp name in a directory another user can write may be her hard link to
 * a file of someone else's.
 */
function linkAt(path: string, target: string, temp: string): void {
  unlinkIfPresent(temp);
  fs.symlinkSync(target, temp);
  renameDurably(temp, path); // atomic: the path always names the old link or the new one
}

/** Where undo makes the old link again: a holder beside it, named after the journaled temp name (a rerun finds it). */
function undoHolderName(before: SymlinkBefore): string {
  return `${basename(before.temp)}-undo`;
}

/**
 * Makes `name` in `dir` a link to `target` owned by `owner`, atomically: the
 * link is made and chowned inside a new holder, where nobody else can put
 * anything at its name, and only then renamed into place.
 */
function ownedLinkAt(dir: DirectoryHandle, name: string, target: string, holderName: string, owner: { uid: number; gid: number }, shown: string): void {
  const holder = makeHolder(dir, holderName, (found) => new UndoConflictError(shown, `nothing at ${holderName} beside it`, found, { path: shown }));
  try {
    fs.symlinkSync(target, heldIn(holder));
    fs.lchownSync(heldIn(holder), owner.uid, owner.gid);
    renameDurably(heldIn(holder), dir.entry(name)); // the holder synced too: its removal cannot outlive the rename
  } finally {
    fs.closeSync(holder);
  }
  removeHolder(dir, holderName);
}

/**
 * Removes what an undo interrupted by a crash left at the holder's name: the
 * holder and the link in it, or (from a version that made the link there
 * bare) a link. A directory there that is not a holder holds nothing of
 * root's: it is left alone (a re-pointing undo then cannot make its holder,
 * an UndoConflictError).
 */
function clearHolder(dir: DirectoryHandle, holderName: string): void {
  const entry = dir.entry(holderName);
  const st = lstatOrUndefined(entry);
  if (!st) return;
  if (!st.isDirectory()) {
    if (unlinkIfPresent(entry)) syncDirectory(dir.self);
    return;
  }
  const holder = holderIfAny(dir, holderName);
  if (holder === undefined) return;
  try {
    // Only the link it makes is ever in a holder (nobody else can enter one).
    if (lstatOrUndefined(heldIn(holder))?.isSymbolicLink()) fs.unlinkSync(heldIn(holder));
  } finally {
    fs.closeSync(holder);
  }
  removeHolder(dir, holderName);
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
      clearHolder(dir, undoHolderName(before));
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
      ownedLinkAt(dir, basename(a.path), before.target, undoHolderName(before), before, a.path);
    });
  },
  verifyUndo: async (a, before) => {
    const target = safeReadlink(a.path);
    if ((before.existed ? before.target : undefined) !== target) throw new VerificationError(`${a.path} is not back to its before-state`, { path: a.path });
  },
  wouldChange: async (a) => safeReadlink(a.path) !== a.target,
});
