import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as t from 'io-ts';
import { onOverlay, InvalidInputError, UndoConflictError, UntrustedJournalError, VerificationError, defineStep, validateAbsolutePath, renameDurably, temporaryNameFor, temporaryPrefixFor } from '@unwind/core';
import { CrossDeviceError, OVERLAY_LOWER_DIRECTORY, TargetChangedError, TargetExistsError, UnexpectedFileTypeError } from './errors.js';
import { describeFound } from './replace.js';
import { checkSameEntry, directoryIdentity, Identity, identityOfStats, inDirectorySync, type DirectoryHandle, type Phase } from './directory-handle.js';
import { heldIn, holderIfAny, makeHolder, removeHolder } from './holder.js';
import { checkSignal, lstatOrUndefined, resolvedLocation } from './fsutil.js';
import { mountOf, mountsWithin, parseMountPoints } from './plan-removal.js';

/**
 * Moves (renames) a file, directory or symlink within one filesystem. The
 * destination must not exist; crossing a filesystem is refused before
 * anything moves ({@link CrossDeviceError}). Both directories are synced.
 * Undo moves it back, only while the destination is still what this step
 * moved (same device and inode; else UndoConflictError, untouched). Each
 * way, the entry is first renamed into a private directory of root's beside
 * it and judged there, so the entry moved on is the one judged, whatever the
 * owner of the directory it leaves renames meanwhile.
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
    /**
     * The private directories do (beside `from`) and undo (beside `to`) park the entry in: random names
     * chosen by prepare, journaled before do runs so that a rerun finds them. Absent in journals of the
     * version before, which derived them from the arguments.
     */
    t.partial({ forwardHolder: t.string, backHolder: t.string }),
  ]),
  validate: (a) => {
    validateAbsolutePath(a.from, { what: 'from' });
    validateAbsolutePath(a.to, { what: 'to' });
    if (a.from === '/' || a.to === '/') throw new InvalidInputError('cannot move / or onto /', a);
    if (a.to === a.from || a.to.startsWith(`${a.from}/`)) throw new InvalidInputError(`cannot move ${a.from} into itself (${a.to})`, a);
  },
  validateJournaled: (a, before) => {
    // Do and undo make, fill and remove these: only names of this step's own, beside `from` and `to`.
    if (before.forwardHolder !== undefined) checkHolderName(a.from, FORWARD, before.forwardHolder);
    if (before.backHolder !== undefined) checkHolderName(a.to, BACK, before.backHolder);
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
    // Names nobody can guess: one planted at a predictable name would deny do (or every undo) its private directory.
    const forwardHolder = temporaryNameFor(a.from, holderPrefix(a.from, FORWARD));
    const backHolder = temporaryNameFor(a.to, holderPrefix(a.to, BACK));
    return { type, dev: id.dev.toString(), ino: id.ino.toString(), fromParent, toParent, forwardHolder, backHolder };
  },
  do: async (a, before, ctx) => {
    checkSignal(ctx.signal);
    betweenDirectories(a, before, 'do', (from, to) => {
      if (lstatOrUndefined(to.entry)) throw new TargetExistsError(`cannot move ${a.from} to ${a.to}: ${a.to} appeared`, { from: a.from, to: a.to });
      checkSameEntry(from.entry, a.from, entryIdentity(before), 'do'); // by name: refused before anything moves, when it plainly changed
      const name = holderNames(a, before).forward;
      const holder = makeHolder(from.dir, name, (found) => new TargetChangedError(`cannot move ${a.from}: found ${found}; nothing was moved`, { from: a.from, to: a.to }));
      try {
        try {
          renameDurably(from.entry, heldIn(holder));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EXDEV' || !onOverlay(from.entry)) throw error;
          throw new CrossDeviceError(`${a.from} cannot be renamed to ${a.to} (EXDEV): ${OVERLAY_LOWER_DIRECTORY}; nothing was moved`, { from: a.from, to: a.to, overlay: true });
        }
        try {
          // In the holder nobody else can swap it: what goes on to `to` is the entry judged here.
          checkSameEntry(heldIn(holder), a.from, entryIdentity(before), 'do', identityOfStats(fs.lstatSync(heldIn(holder), { bigint: true })));
          if (lstatOrUndefined(to.entry)) throw new TargetExistsError(`cannot move ${a.from} to ${a.to}: ${a.to} appeared`, { from: a.from, to: a.to });
          renameDurably(heldIn(holder), to.entry);
        } catch (error) {
          returnHeld(holder, from.entry);
          throw error;
        }
      } finally {
        fs.closeSync(holder);
        removeHolder(from.dir, name);
      }
    });
  },
  verify: async (a) => {
    if (lstatOrUndefined(a.from) || !lstatOrUndefined(a.to)) throw new VerificationError(`${a.from} was not moved to ${a.to}`, a);
  },
  undo: async (a, before) => {
    betweenDirectories(a, before, 'undo', (from, to) => {
      returnInterruptedDo(a, before, from);
      moveBack(a, before, from, to);
    });
  },
  verifyUndo: async (a) => {
    if (!lstatOrUndefined(a.from) || lstatOrUndefined(a.to)) throw new VerificationError(`${a.to} was not moved back to ${a.from}`, a);
  },
  wouldChange: async (a) => fs.existsSync(a.from) || !fs.existsSync(a.to),
});

type MoveBefore = { type: string; dev?: string | undefined; ino?: string | undefined; fromParent?: Identity | undefined; toParent?: Identity | undefined; forwardHolder?: string | undefined; backHolder?: string | undefined };

/** An entry named through its open directory. */
interface Place {
  dir: DirectoryHandle;
  /** `/proc/self/fd/<fd>/<name>`. */
  entry: string;
}

/**
 * Runs `fn` with `from` and `to` named through their directories, opened and
 * compared with what prepare found (device and inode at do, inode at undo):
 * a directory swapped for a symlink since is refused, never followed.
 */
function betweenDirectories(a: { from: string; to: string }, before: MoveBefore, phase: Phase, fn: (from: Place, to: Place) => void): void {
  inDirectorySync(dirname(a.from), { expected: before.fromParent, phase, follow: true, what: 'the directory of' }, (fromDir) =>
    inDirectorySync(dirname(a.to), { expected: before.toParent, phase, what: 'the directory of' }, (toDir) =>
      fn({ dir: fromDir, entry: fromDir.entry(basename(a.from)) }, { dir: toDir, entry: toDir.entry(basename(a.to)) }),
    ),
  );
}

/** What the names of the holders of do (beside `from`) and undo (beside `to`) add to the temp prefix. */
const FORWARD = 'move-';
const BACK = 'move-back-';

/** `.<name>.unwind-move-` / `.<name>.unwind-move-back-`: a holder's name is this and 128 random bits in hex. */
function holderPrefix(path: string, kind: typeof FORWARD | typeof BACK): string {
  return `${temporaryPrefixFor(path)}${kind}`;
}

/** Throws unless `holder` is a holder name this step gives beside `path`: its directory, the prefix, 32 hex digits. */
function checkHolderName(path: string, kind: typeof FORWARD | typeof BACK, holder: string): void {
  const prefix = holderPrefix(path, kind);
  const name = basename(holder);
  const ok = holder === join(dirname(path), name) && name.startsWith(prefix) && /^[0-9a-f]{32}$/.test(name.slice(prefix.length));
  if (!ok) throw new UntrustedJournalError(`files.move: journaled private directory ${JSON.stringify(holder)} is not one this step makes beside ${path}`, { path, holder });
}

/**
 * The holders do parks the entry in (beside `from`) and undo parks it in
 * (beside `to`): the random names prepare journaled, so that an undo run
 * again after a crash finds what an interrupted do or undo left in one. A
 * journal of the version before has none: its names, derived from the
 * arguments, are where an interrupted run of that version left things.
 */
function holderNames(a: { from: string; to: string }, before: MoveBefore): { forward: string; back: string } {
  return {
    forward: before.forwardHolder === undefined ? `${temporaryPrefixFor(a.from)}move` : basename(before.forwardHolder),
    back: before.backHolder === undefined ? `${temporaryPrefixFor(a.to)}move-back` : basename(before.backHolder),
  };
}

/** Renames the entry in the holder back to `entry`, unless something has taken that place since: then it stays in the holder, root's only, for a rerun or an admin. */
function returnHeld(holder: number, entry: string): void {
  if (lstatOrUndefined(heldIn(holder)) && !lstatOrUndefined(entry)) renameDurably(heldIn(holder), entry);
}

/** Puts back at `from` what a do interrupted by a crash (or a failed put-back) left in its holder: it came from there, whatever it is. */
function returnInterruptedDo(a: { from: string; to: string }, before: MoveBefore, from: Place): void {
  const name = holderNames(a, before).forward;
  const holder = holderIfAny(from.dir, name);
  if (holder === undefined) return;
  try {
    if (lstatOrUndefined(heldIn(holder)) && lstatOrUndefined(from.entry)) {
      throw new UndoConflictError(a.from, `nothing (what this step was moving is kept in ${join(dirname(a.from), name)})`, describeFound(from.entry, lstatOrUndefined(from.entry)), { from: a.from, to: a.to, kept: join(dirname(a.from), name) });
    }
    returnHeld(holder, from.entry);
  } finally {
    fs.closeSync(holder);
    removeHolder(from.dir, name);
  }
}

/**
 * Moves what this step moved from `to` back to `from`. Looked at by name
 * first, so that what is plainly not ours is left untouched; then renamed
 * into a holder beside `to` and judged there (device and inode), where
 * nobody else can swap it, and renamed on to `from` only when it is ours.
 * Anything else goes back to `to`: UndoConflictError naming both. A rerun
 * after a crash finds an entry already in the holder and judges it there.
 */
function moveBack(a: { from: string; to: string }, before: MoveBefore, from: Place, to: Place): void {
  const name = holderNames(a, before).back;
  const kept = join(dirname(a.to), name);
  const context = { from: a.from, to: a.to };
  let holder = holderIfAny(to.dir, name);
  try {
    if (holder === undefined || !lstatOrUndefined(heldIn(holder))) {
      const st = lstatOrUndefined(to.entry);
      const ours = st !== undefined && isSameEntry(to.entry, before);
      if (lstatOrUndefined(from.entry)) {
        if (!ours) return; // never moved (or already back)
        throw new UndoConflictError(a.from, 'nothing (this step moved it to ' + a.to + ')', 'something new at the original place', context);
      }
      // Compare-and-swap: only what this step moved (same device and inode) is moved back.
      if (!ours) throw new UndoConflictError(a.to, `the ${before.type} this step moved there (inode ${before.ino ?? '?'})`, describeFound(to.entry, st), context);
      holder ??= makeHolder(to.dir, name, (found) => new UndoConflictError(a.to, `nothing at ${kept}, where this undo makes its private directory`, found, context));
      renameDurably(to.entry, heldIn(holder));
    }
    const held = heldIn(holder);
    const st = fs.lstatSync(held, { bigint: true });
    if (!sameEntry(st, before)) {
      const found = `${describeFound(held, lstatOrUndefined(held))}, inode ${st.ino}`;
      returnHeld(holder, to.entry);
      throw new UndoConflictError(a.to, `the ${before.type} this step moved there (inode ${before.ino ?? '?'})`, lstatOrUndefined(held) ? `${found}, kept in ${kept} (${a.to} is taken)` : found, context);
    }
    if (lstatOrUndefined(from.entry)) {
      returnHeld(holder, to.entry);
      throw new UndoConflictError(a.from, 'nothing (this step moved it to ' + a.to + ')', 'something new at the original place', context);
    }
    renameDurably(held, from.entry);
  } finally {
    if (holder !== undefined) {
      fs.closeSync(holder);
      removeHolder(to.dir, name);
    }
  }
}

function entryIdentity(before: MoveBefore): Identity | undefined {
  return before.dev !== undefined && before.ino !== undefined ? { dev: before.dev, ino: before.ino } : undefined;
}

/** Whether `path` is the entry this step moved: the same type and, when journaled, the same device and inode. */
function isSameEntry(path: string, before: MoveBefore): boolean {
  return sameEntry(fs.lstatSync(path, { bigint: true }), before);
}

function sameEntry(st: fs.BigIntStats, before: MoveBefore): boolean {
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
