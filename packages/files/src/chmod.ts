import * as fs from 'node:fs';
import * as t from 'io-ts';
import { UndoConflictError, VerificationError, defineStep } from '@unwind/core';
import { inspectTarget, statNoFollow, validateTarget, withNoFollow } from './attributes.js';
import { checkSignal, lstatOrUndefined } from './fsutil.js';
import { Identity } from './directory-handle.js';
import { validateModeAndOwner } from './replace.js';

/**
 * Sets the permission bits of an existing file or directory; undo puts the
 * old bits back, only while the path still has the bits this step set (else
 * UndoConflictError, untouched). A symlink at the path is refused (never followed).
 *
 * @example
 * ```ts
 * import { chmod } from '@unwind/files';
 * tx.add(chmod({ path: '/etc/app/secret.key', mode: 0o600 }));
 * ```
 */
export const chmod = defineStep({
  type: 'files.chmod',
  package: '@unwind/files',
  args: t.type({ path: t.string, mode: t.number }),
  before: t.intersection([t.type({ mode: t.number }), t.partial({ /** The file prepare looked at: do and undo change only that one. */ entry: Identity })]),
  validate: (a) => {
    validateTarget(a.path);
    validateModeAndOwner(a);
  },
  describe: (a) => `chmod ${a.mode.toString(8)} ${a.path}`,
  prepare: async (a) => {
    const { mode, entry } = inspectTarget(a.path);
    return { mode, entry };
  },
  do: async (a, before, ctx) => {
    checkSignal(ctx.signal);
    withNoFollow(a.path, (fd) => fs.fchmodSync(fd, a.mode), { identity: before.entry, phase: 'do' });
  },
  verify: async (a) => {
    const mode = statNoFollow(a.path).mode;
    if (mode !== a.mode) throw new VerificationError(`${a.path} has mode ${mode.toString(8)}, expected ${a.mode.toString(8)}`, { path: a.path });
  },
  undo: async (a, before) => {
    // Compare-and-swap: only the mode this step set is put back; a mode someone else set since is theirs.
    const st = lstatOrUndefined(a.path);
    if (!st || st.isSymbolicLink()) throw new UndoConflictError(a.path, `mode ${a.mode.toString(8)}`, st ? 'a symlink' : 'nothing', { path: a.path });
    withNoFollow(a.path, (fd, now) => {
      const mode = now.mode & 0o7777;
      if (mode === before.mode) return;
      if (mode !== a.mode) throw new UndoConflictError(a.path, `mode ${a.mode.toString(8)}`, `mode ${mode.toString(8)}`, { path: a.path });
      fs.fchmodSync(fd, before.mode);
    }, { identity: before.entry, phase: 'undo' });
  },
  verifyUndo: async (a, before) => {
    const mode = statNoFollow(a.path).mode;
    if (mode !== before.mode) throw new VerificationError(`${a.path} has mode ${mode.toString(8)} after undo, expected ${before.mode.toString(8)}`, { path: a.path });
  },
  wouldChange: async (a) => statNoFollow(a.path).mode !== a.mode,
});
