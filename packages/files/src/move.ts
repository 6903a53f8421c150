import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import * as t from 'io-ts';
import { onOverlay, InvalidInputError, UndoConflictError, VerificationError, defineStep, validateAbsolutePath, renameDurably } from '@unwind/core';
import { CrossDeviceError, OVERLAY_LOWER_DIRECTORY, TargetExistsError, UnexpectedFileTypeError } from './errors.js';
import { describeFound } from './replace.js';
import { checkSameEntry, directoryIdentity, Identity, inDirectorySync, type Phase } from './directory-handle.js';
import { checkSignal, lstatOrUndefined, resolvedLocation } from './fsutil.js';
import { mountOf, mountsWithin, parseMountPoints } from './plan-removal.js';

/**
 * Moves (renames) a file, directory or symlink within one filesystem. The
 * destination must not exist; crossing a filesystem is refused before
 * anything moves ({@link CrossDeviceError}). Both directories are synced.
 * Undo moves it back, only while the destination is still what this step
 * moved (same device and inode; else UndoConflictError, untouched).
 *
 * @example
 * ```ts
 * import { move } from '@unwind/files';
 * tx.add(move({ from: '/srv/app/releases/new', to: '/srv/app/releases/2024-06-01' }));
 * ```
 */
export const move = defineStep({
  type: 'files.move',
  package: '@unwind/files',
  args: t.type({ from: t.string, to: t.string }),
  before: t.intersection([
    t.type({ type: t.union([t.literal('file'), t.literal('dir'), t.literal('symlink'), t.literal('other')]) }),
    /** Device and inode (decimal) of what moves: a rename keeps them, so undo can tell it is still ours. */
    t.partial({ dev: t.string, ino: t.string }),
    /** The directories of `from` and `to` as prepare found them: do and undo rename only between those very directories. */
    t.partial({ fromParent: Identity, toParent: Identity }),
  ]),
  validate: (a) => {
    validateAbsolutePath(a.from, { what: 'from' });
    validateAbsolutePath(a.to, { what: 'to' });
    if (a.from === '/' || a.to === '/') throw new InvalidInputError('cannot move / or onto /', a);
    if (a.to === a.from || a.to.startsWith(`${a.from}/`)) throw new InvalidInputError(`cannot move ${a.from} into itself (${a.to})`, a);
  },
  describe: (a) => `move ${a.from} to ${a.to}`,
  prepare: async (a) => {
    const st = lstatOrUndefined(a.from);
    if (!st) throw new UnexpectedFileTypeError(`${a.from} does not exist; nothing to move`, { path: a.from });
    if (lstatOrUndefined(a.to)) throw new TargetExistsError(`cannot move ${a.from} to ${a.to}: ${a.to} exists`, { from: a.from, to: a.to });
    const parent = lstatOrUndefined(dirname(a.to));
    if (!parent?.isDirectory()) throw new UnexpectedFileTypeError(`the directory of ${a.to} does not exist`, { path: a.to });
    const mounts = parseMountPoints(readMountInfo());
    const fromMount = mountOf(resolvedLocation(a.from), mounts);
    const toMount = mountOf(resolvedLocation(a.to), mounts);
    if (parent.dev !== st.dev || fromMount !== toMount || mountsWithin(resolvedLocation(a.from), mounts).length > 0) {
      throw new CrossDeviceError(`${a.from} (device ${st.dev}) and ${dirname(a.to)} (device ${parent.dev}) are on different filesystems; or mounts (${fromMount}, ${toMount}); a rename cannot move it, nothing was moved`, { from: a.from, to: a.to });
    }
    const id = fs.lstatSync(a.from, { bigint: true });
    const type = st.isSymbolicLink() ? ('symlink' as const) : st.isDirectory() ? ('dir' as const) : st.isFile() ? ('file' as const) : ('other' as const);
    // Both directories reached component by component: a symlink above them that someone else controls is refused here.
    const fromParent = directoryIdentity(dirname(a.from), { what: 'the directory of', follow: true });
    const toParent = directoryIdentity(dirname(a.to), { what: 'the directory of' });
    return { type, dev: id.dev.toString(), ino: id.ino.toString(), fromParent, toParent };
  },
  do: async (a, before, ctx) => {
    checkSignal(ctx.signal);
    betweenDirectories(a, before, 'do', (from, to) => {
      if (lstatOrUndefined(to)) throw new TargetExistsError(`cannot move ${a.from} to ${a.to}: ${a.to} appeared`, { from: a.from, to: a.to });
      checkSameEntry(from, a.from, entryIdentity(before), 'do');
      try {
        renameDurably(from, to);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV' || !onOverlay(from)) throw error;
        throw new CrossDeviceError(`${a.from} cannot be renamed to ${a.to} (EXDEV): ${OVERLAY_LOWER_DIRECTORY}; nothing was moved`, { from: a.from, to: a.to, overlay: true });
      }
    });
  },
  verify: async (a) => {
    if (lstatOrUndefined(a.from) || !lstatOrUndefined(a.to)) throw new VerificationError(`${a.from} was not moved to ${a.to}`, a);
  },
  undo: async (a, before) => {
    betweenDirectories(a, before, 'undo', (from, to) => {
      const st = lstatOrUndefined(to);
      const ours = st !== undefined && isSameEntry(to, before);
      if (lstatOrUndefined(from)) {
        if (!ours) return; // never moved (or already back)
        throw new UndoConflictError(a.from, 'nothing (this step moved it to ' + a.to + ')', 'something new at the original place', { from: a.from, to: a.to });
      }
      // Compare-and-swap: only what this step moved (same device and inode) is moved back.
      if (!ours) throw new UndoConflictError(a.to, `the ${before.type} this step moved there (inode ${before.ino ?? '?'})`, describeFound(to, st), { from: a.from, to: a.to });
      renameDurably(to, from);
    });
  },
  verifyUndo: async (a) => {
    if (!lstatOrUndefined(a.from) || lstatOrUndefined(a.to)) throw new VerificationError(`${a.to} was not moved back to ${a.from}`, a);
  },
  wouldChange: async (a) => fs.existsSync(a.from) || !fs.existsSync(a.to),
});

type MoveBefore = { type: string; dev?: string | undefined; ino?: string | undefined; fromParent?: Identity | undefined; toParent?: Identity | undefined };

/**
 * Runs `fn` with `from` and `to` named through their directories, opened and
 * compared with what prepare found (device and inode at do, inode at undo):
 * a directory swapped for a symlink since is refused, never followed.
 */
function betweenDirectories(a: { from: string; to: string }, before: MoveBefore, phase: Phase, fn: (from: string, to: string) => void): void {
  inDirectorySync(dirname(a.from), { expected: before.fromParent, phase, follow: true, what: 'the directory of' }, (fromDir) =>
    inDirectorySync(dirname(a.to), { expected: before.toParent, phase, what: 'the directory of' }, (toDir) => fn(fromDir.entry(basename(a.from)), toDir.entry(basename(a.to)))),
  );
}

function entryIdentity(before: MoveBefore): Identity | undefined {
  return before.dev !== undefined && before.ino !== undefined ? { dev: before.dev, ino: before.ino } : undefined;
}

/** Whether `path` is the entry this step moved: the same type and, when journaled, the same device and inode. */
function isSameEntry(path: string, before: { type: string; dev?: string | undefined; ino?: string | undefined }): boolean {
  const st = fs.lstatSync(path, { bigint: true });
  const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  if (type !== before.type) return false;
  return before.ino === undefined || (st.ino.toString() === before.ino && st.dev.toString() === before.dev);
}

function readMountInfo(): string {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}
