// "Destroy the user's managed state, as that user": the first phase.
// It runs the user's own destroy command, which has no undo of its own — the
// `snapshots.snapshot` step placed before it puts the tree back on rollback.
import * as fs from 'node:fs';
import * as t from 'io-ts';
import { defineStep, InvalidInputError, validateAbsolutePath, VerificationError } from '@unwind/core';

const Args = t.intersection([
  t.type({
    /** The managed state directory (absolute, on disk). */
    path: t.string,
    /** Who runs the destroy: the user's uid and primary gid (never 0). */
    uid: t.number,
    gid: t.number,
  }),
  t.partial({ /** Timeout of the destroy command, ms. Default 120 000. */ timeoutMs: t.number }),
]);

/**
 * Deletes a user's managed state directory as that user (`setpriv --reuid
 * UID --regid GID --clear-groups -- rm -rf --one-file-system -- PATH`), so it
 * can only delete what the user could. No undo of its own: put a
 * `snapshots.snapshot` of the same path before it, whose undo restores the
 * tree and verifies it against the snapshot's hashes.
 *
 * @example
 * ```ts
 * tx.add(snapshot({ path: stateDir }));
 * tx.add(destroyAsUser({ path: stateDir, uid: 1001, gid: 1001 }));
 * ```
 */
export const destroyAsUser = defineStep({
  type: 'userDestroy.destroyAsUser',
  package: '@unwind/example-user-destroy',
  args: Args,
  before: t.type({ existed: t.boolean }),
  validate: (a) => {
    validateAbsolutePath(a.path, { what: 'managed state directory' });
    for (const [what, id] of [['uid', a.uid], ['gid', a.gid]] as const) {
      if (!Number.isInteger(id) || id <= 0) throw new InvalidInputError(`${what} ${id} is not a user's id (never root)`, { [what]: id });
    }
  },
  describe: (a) => `destroy the managed state ${a.path} as uid ${a.uid}`,
  prepare: async (a) => {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(a.path);
    } catch {
      st = undefined;
    }
    if (st && !st.isDirectory()) throw new InvalidInputError(`${a.path} is not a directory; refusing to destroy it`, { path: a.path });
    return { existed: st !== undefined };
  },
  do: async (a, before, ctx) => {
    if (!before.existed) return;
    await ctx.exec({
      argv: ['setpriv', `--reuid=${a.uid}`, `--regid=${a.gid}`, '--clear-groups', '--', 'rm', '-rf', '--one-file-system', '--', a.path],
      cwd: '/',
      timeoutMs: a.timeoutMs ?? 120_000,
      signal: ctx.signal,
    });
  },
  verify: async (a) => {
    if (fs.existsSync(a.path)) throw new VerificationError(`${a.path} is still there after the destroy`, { path: a.path });
  },
  // The snapshot step before this one restores the tree; there is nothing else to take back.
  undo: async () => {},
});

/**
 * The kinds of this example, for `recover({ kinds })` with the adapters' kinds.
 *
 * @example
 * ```ts
 * await recover({ root, kinds: [...destroyKinds] });
 * ```
 */
export const kinds = [destroyAsUser];
