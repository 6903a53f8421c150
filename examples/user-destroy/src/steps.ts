// "Destroy the user's managed state, as that user": the first phase.
// It runs the application's own destroy command as the user (syslua runs
// `sys destroy` so); it has no undo of its own — the `snapshots.snapshot`
// steps placed before it put back what it touches on rollback.
import * as fs from 'node:fs';
import * as t from 'io-ts';
import { defaultEnv, defineStep, InvalidInputError, validateAbsolutePath } from '@unwind/core';

const Args = t.intersection([
  t.type({
    /** The application's destroy command, an argv (never a shell string). */
    argv: t.array(t.string),
    /** The user's name and home on disk: HOME, USER, LOGNAME and the working directory of the command. */
    user: t.string,
    home: t.string,
    /** Who runs the destroy: the user's uid and primary gid (never 0). */
    uid: t.number,
    gid: t.number,
  }),
  t.partial({ /** Timeout of the destroy command, ms. Default 120 000. */ timeoutMs: t.number }),
]);

/**
 * Runs the application's own destroy command as the user (`setpriv --reuid
 * UID --regid GID --clear-groups -- ARGV…`, with HOME, USER and LOGNAME set
 * and the home as working directory), so it can touch only what the user
 * could. A non-zero exit fails the step. No undo of its own: put a
 * `snapshots.snapshot` of every path the command touches before it.
 *
 * @example
 * ```ts
 * tx.add(snapshot({ path: '/home/alice/.config/syslua' }));
 * tx.add(destroyAsUser({ argv: ['/usr/local/bin/sys', 'destroy'], user: 'alice', home: '/home/alice', uid: 1001, gid: 1001 }));
 * ```
 */
export const destroyAsUser = defineStep({
  type: 'userDestroy.destroyAsUser',
  package: '@unwind/example-user-destroy',
  args: Args,
  before: t.null,
  validate: (a) => {
    validateAbsolutePath(a.home, { what: 'home directory' });
    if (a.argv.length === 0 || a.argv.some((x) => x.includes('\0')) || a.argv[0] === '') throw new InvalidInputError('the destroy command needs a program and no NUL bytes', { argv: a.argv });
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(a.user)) throw new InvalidInputError(`${a.user} is not a user name`, { user: a.user });
    for (const [what, id] of [['uid', a.uid], ['gid', a.gid]] as const) {
      if (!Number.isInteger(id) || id <= 0) throw new InvalidInputError(`${what} ${id} is not a user's id (never root)`, { [what]: id });
    }
  },
  describe: (a) => `run ${a.argv.join(' ')} as ${a.user} (uid ${a.uid})`,
  prepare: async (a) => {
    if (!fs.statSync(a.home, { throwIfNoEntry: false })?.isDirectory()) throw new InvalidInputError(`the home ${a.home} is not a directory; the destroy command has nowhere to run`, { home: a.home });
    return null;
  },
  do: async (a, _before, ctx) => {
    await ctx.exec({
      argv: ['setpriv', `--reuid=${a.uid}`, `--regid=${a.gid}`, '--clear-groups', '--', ...a.argv],
      cwd: a.home,
      env: { ...defaultEnv(), HOME: a.home, USER: a.user, LOGNAME: a.user },
      timeoutMs: a.timeoutMs ?? 120_000,
      signal: ctx.signal,
    });
  },
  // The snapshot steps before this one restore what the command touched; there is nothing else to take back.
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
