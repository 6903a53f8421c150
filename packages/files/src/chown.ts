import * as fs from 'node:fs';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, VerificationError, defineStep } from '@unwind/core';
import { inspectTarget, statNoFollow, validateTarget, withNoFollow } from './attributes.js';
import { checkSignal, lstatOrUndefined } from './fsutil.js';
import { Identity } from './directory-handle.js';
import { validateModeAndOwner } from './replace.js';

/**
 * Sets the owner and/or group of an existing file or directory (numeric ids);
 * undo puts the old owner and mode back (chown may clear set-id bits, so the
 * mode is restored too), only while the path still has what this step left
 * (else UndoConflictError, untouched). A symlink at the path is refused (never followed).
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
    withNoFollow(a.path, (fd, st) => {
      const mode = st.mode & 0o7777;
      fs.fchownSync(fd, a.uid ?? st.uid, a.gid ?? st.gid);
      // chown clears set-id bits on files; what the caller asked for is the owner only
      if ((fs.fstatSync(fd).mode & 0o7777) !== mode) fs.fchmodSync(fd, mode);
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
