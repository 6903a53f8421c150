import * as fs from 'node:fs';
import * as t from 'io-ts';
import { VerificationError, defineStep } from '@unwind/core';
import { statNoFollow, validateTarget, withNoFollow } from './attributes.js';
import { checkSignal, lstatOrUndefined } from './fsutil.js';
import { validateModeAndOwner } from './replace.js';

/**
 * Sets the permission bits of an existing file or directory; undo puts the
 * old bits back. A symlink at the path is refused (never followed).
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
  before: t.type({ mode: t.number }),
  validate: (a) => {
    validateTarget(a.path);
    validateModeAndOwner(a);
  },
  describe: (a) => `chmod ${a.mode.toString(8)} ${a.path}`,
  prepare: async (a) => ({ mode: statNoFollow(a.path).mode }),
  do: async (a, _before, ctx) => {
    checkSignal(ctx.signal);
    withNoFollow(a.path, (fd) => fs.fchmodSync(fd, a.mode));
  },
  verify: async (a) => {
    const mode = statNoFollow(a.path).mode;
    if (mode !== a.mode) throw new VerificationError(`${a.path} has mode ${mode.toString(8)}, expected ${a.mode.toString(8)}`, { path: a.path });
  },
  undo: async (a, before) => {
    if (!lstatOrUndefined(a.path)) return;
    withNoFollow(a.path, (fd, st) => {
      if ((st.mode & 0o7777) !== before.mode) fs.fchmodSync(fd, before.mode);
    });
  },
  verifyUndo: async (a, before) => {
    const mode = statNoFollow(a.path).mode;
    if (mode !== before.mode) throw new VerificationError(`${a.path} has mode ${mode.toString(8)} after undo, expected ${before.mode.toString(8)}`, { path: a.path });
  },
  wouldChange: async (a) => statNoFollow(a.path).mode !== a.mode,
});
