import * as fs from 'node:fs';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, VerificationError, defineStep } from '@unwind/core';
import { inspectTarget, statNoFollow, validateTarget, withNoFollow } from './attributes.js';
import { TargetChangedError } from './errors.js';
import { checkSignal, lstatOrUndefined } from './fsutil.js';
import { Identity } from './directory-handle.js';
import { validateModeAndOwner } from './replace.js';

const SET_ID = 0o6000;

/**
 * Whether nobody but root (or the running user) can change the file's
 * content or mode: owned by root, writable by neither group nor others (with
 * a POSIX ACL the group bits are its mask, which caps every named entry).
 */
function onlyRootCanChange(uid: number, mode: number): boolean {
  return (uid === 0 || uid === (process.geteuid?.() ?? 0)) && (mode & 0o022) === 0;
}

/** `mode` is `expected` with nothing but some of its set-id bits cleared (what a chown does to a file). */
function setIdClearedFrom(mode: number, expected: number): boolean {
  return (mode & ~SET_ID) === (expected & ~SET_ID) && (mode & SET_ID & ~expected) === 0;
}

/**
 * Sets the owner and/or group of an existing file or directory (numeric ids).
 * The kernel clears set-id bits on chown, so that a program someone else
 * could write never becomes set-id as its new owner; they are put back only
 * when prepare saw them and the owner and group stay the same, or when
 * prepare found a file only root could change. A mode changed between
 * prepare and do is a TargetChangedError, nothing changed. Undo puts the old
 * owner and mode back, only while the path still has what this step left,
 * and puts set-id bits back with a new owner only where nobody but root could
 * have changed the file since (else UndoConflictError, untouched). A symlink
 * at the path is refused (never followed).
 *
 * @example
 * ```ts
 * import { chown } from '@unwind/files';
 * tx.add(chown({ path: '/var/lib/app', uid: 998, gid: 998 }));
 * ```
 */
export const chown = defineStep({
  type: 'files.chown',
  package: '@unwind/files',
  args: t.intersection([t.type({ path: t.string }), t.partial({ uid: t.number, gid: t.number })]),
  before: t.intersection([t.type({ uid: t.number, gid: t.number, mode: t.number }), t.partial({ /** The file prepare looked at: do and undo change only that one. */ entry: Identity })]),
  validate: (a) => {
    validateTarget(a.path);
    if (a.uid === undefined && a.gid === undefined) throw new InvalidInputError(`chown of ${a.path} needs uid or gid`, { path: a.path });
    validateModeAndOwner(a);
  },
  describe: (a) => `chown ${a.uid ?? ''}:${a.gid ?? ''} ${a.path}`,
  prepare: async (a) => inspectTarget(a.path),
  do: async (a, before, ctx) => {
    checkSignal(ctx.signal);
    const set = { uid: a.uid ?? before.uid, gid: a.gid ?? before.gid };
    // Set-id bits are put back only where that gives nobody a program they chose: the same owner and
    // group as before, or a file only root could have changed since prepare saw it (checked below: unchanged).
    const keep = (set.uid === before.uid && set.gid === before.gid) || onlyRootCanChange(before.uid, before.mode) ? before.mode : before.mode & ~SET_ID;
    withNoFollow(a.path, (fd, now) => {
      const mode = now.mode & 0o7777;
      // Compare-and-swap on what prepare saw (or an earlier attempt's chown left): bits set since are never put back.
      const asPrepared = now.uid === before.uid && now.gid === before.gid && mode === before.mode;
      const afterOwnChown = now.uid === set.uid && now.gid === set.gid && setIdClearedFrom(mode, before.mode);
      if (!asPrepared && !afterOwnChown) {
        throw new TargetChangedError(`${a.path} changed since prepare (owner ${before.uid}:${before.gid} mode ${before.mode.toString(8)}, now ${now.uid}:${now.gid} mode ${mode.toString(8)}); nothing was changed`, {
          path: a.path,
          expected: { uid: before.uid, gid: before.gid, mode: before.mode },
          found: { uid: now.uid, gid: now.gid, mode },
        });
      }
      fs.fchownSync(fd, set.uid, set.gid);
      const left = fs.fstatSync(fd).mode & 0o7777;
      if (left !== keep && setIdClearedFrom(left, keep)) fs.fchmodSync(fd, keep);
    }, { identity: before.entry, phase: 'do' });
  },
  verify: async (a) => {
    const st = statNoFollow(a.path);
    if ((a.uid !== undefined && st.uid !== a.uid) || (a.gid !== undefined && st.gid !== a.gid)) throw new VerificationError(`${a.path} is owned by ${st.uid}:${st.gid}`, { path: a.path });
  },
  undo: async (a, before) => {
    // Compare-and-swap: the owner this step set (and the mode it kept) must still be there.
    const set = { uid: a.uid ?? before.uid, gid: a.gid ?? before.gid, mode: before.mode };
    const expected = `owner ${set.uid}:${set.gid} mode ${set.mode.toString(8)}`;
    const st = lstatOrUndefined(a.path);
    if (!st || st.isSymbolicLink()) throw new UndoConflictError(a.path, expected, st ? 'a symlink' : 'nothing', { path: a.path });
    withNoFollow(a.path, (fd, now) => {
      const mode = now.mode & 0o7777;
      if (now.uid === before.uid && now.gid === before.gid && mode === before.mode) return;
      // A do stopped between its fchown and its fchmod: the kernel cleared set-id bits the step then puts back.
      const setIdCleared = (mode & ~0o6000) === (set.mode & ~0o6000) && (mode & 0o6000 & ~set.mode) === 0;
      if (now.uid !== set.uid || now.gid !== set.gid || (mode !== set.mode && !setIdCleared)) {
        throw new UndoConflictError(a.path, expected, `owner ${now.uid}:${now.gid} mode ${mode.toString(8)}`, { path: a.path });
      }
      // Chowning back clears set-id bits too. Putting them back under another owner than do left is safe
      // only if nobody but root could have changed the file since: else its owner may have rewritten it.
      const ownerChanges = before.uid !== now.uid || before.gid !== now.gid;
      const isDirectory = (now.mode & fs.constants.S_IFMT) === fs.constants.S_IFDIR; // chown leaves a directory's bits
      if (ownerChanges && !isDirectory && (before.mode & SET_ID) !== 0 && !onlyRootCanChange(now.uid, mode)) {
        throw new UndoConflictError(a.path, `owner ${before.uid}:${before.gid} mode ${before.mode.toString(8)} back on a file only root could change since`, `owner ${now.uid}:${now.gid} mode ${mode.toString(8)}, whose owner could have rewritten it`, {
          path: a.path,
          resolve: `check its content, then chown ${before.uid}:${before.gid} and chmod ${before.mode.toString(8)} it by hand (or leave it), then run unwind recover again`,
        });
      }
      fs.fchownSync(fd, before.uid, before.gid);
      if ((fs.fstatSync(fd).mode & 0o7777) !== before.mode) fs.fchmodSync(fd, before.mode);
    }, { identity: before.entry, phase: 'undo' });
  },
  verifyUndo: async (a, before) => {
    const st = statNoFollow(a.path);
    if (st.uid !== before.uid || st.gid !== before.gid || st.mode !== before.mode) throw new VerificationError(`${a.path} is not back to ${before.uid}:${before.gid} mode ${before.mode.toString(8)}`, { path: a.path });
  },
  wouldChange: async (a) => {
    const st = statNoFollow(a.path);
    return (a.uid !== undefined && st.uid !== a.uid) || (a.gid !== undefined && st.gid !== a.gid);
  },
});
