import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import * as t from 'io-ts';
import { defineStep, InvalidInputError, syncDirectory, UnwindError, validateAbsolutePath, VerificationError, type CommandResult } from '@unwind/core';
import { assertNameNotProtected, assertNotProtected, CommonArgs, lookupIn, shadowTool } from './common.js';
import { dbPath, diskPath, keyOf, localUsers, lookupGid, lookupGroup, lookupUid, lookupUser, readLines, uidMin } from './db.js';
import { UserEntryCodec } from './ensure-user.js';
import { UserBusyError } from './errors.js';
import { captureLines, CapturedLines, restoreLines, verifyLines } from './lines.js';
import { validateCommon, validateUserName } from './names.js';
import { stopUserProcesses } from './processes.js';

const Args = t.intersection([
  t.type({ name: t.string }),
  t.partial({
    /** Remove the home directory too (staged; deleted for good only at commit). Default false, like userdel. */
    removeHome: t.boolean,
    /** Stop the user's manager and processes first (default true). */
    stopProcesses: t.boolean,
    /** Time between TERM and KILL, in ms (default 5000). */
    graceMs: t.number,
    /** The linger directory (default PREFIX/var/lib/systemd/linger). */
    lingerDir: t.string,
  }),
  CommonArgs,
]);
type Args = t.TypeOf<typeof Args>;

const FileMeta = t.type({ mode: t.number, uid: t.number, gid: t.number });
const Before = t.type({
  existed: t.boolean,
  user: t.union([UserEntryCodec, t.null]),
  primaryGroup: t.union([t.type({ name: t.string, gid: t.number }), t.null]),
  /** Where the home lives on disk and where it is staged; null when the home is kept or missing. */
  home: t.union([t.type({ path: t.string, staging: t.string }), t.null]),
  linger: t.type({ path: t.string, existed: t.union([FileMeta, t.null]) }),
  lines: t.array(CapturedLines),
});
type Before = t.TypeOf<typeof Before>;

const STAGED = 'home';

function lingerPath(a: Args): string {
  return join(a.lingerDir ?? join(a.prefix ?? '/', 'var/lib/systemd/linger'), a.name);
}

/** Groups whose group or gshadow line names the user (member or administrator). */
function groupsMentioning(name: string, prefix: string | undefined): string[] {
  const out = new Set<string>();
  for (const file of ['group', 'gshadow'] as const) {
    for (const line of readLines(dbPath(prefix, file))) {
      const f = line.split(':');
      if (f.slice(2).some((field) => field.split(',').includes(name))) out.add(keyOf(line));
    }
  }
  return [...out];
}

/** A home that may be moved aside: not /, not shared with another account, not a mount point. */
function checkMovableHome(a: Args, home: string, path: string): void {
  if (home === '/' || path === '/' || dirname(path) === path) throw new InvalidInputError(`home of "${a.name}" is ${home}; refusing to remove it`, { name: a.name, home });
  const sharer = localUsers(a.prefix).find((u) => u.name !== a.name && u.home === home);
  if (sharer) throw new InvalidInputError(`home ${home} of "${a.name}" is also the home of "${sharer.name}"; refusing to remove it`, { name: a.name, home, sharer: sharer.name });
  if (fs.lstatSync(path).dev !== fs.statSync(dirname(path)).dev) {
    throw new UnwindError('CROSS_DEVICE', `home ${path} is a mount point; it cannot be staged by rename on its parent's filesystem`, { context: { name: a.name, path } });
  }
}

const busy = (name: string) => (r: CommandResult) => (r.exitCode === 8 ? new UserBusyError(name, r) : undefined);

/**
 * Removes a user: stops its manager and processes (TERM, grace, KILL),
 * deletes the account (`userdel`, retried while the user is busy), stages
 * its home aside when `removeHome` (deleted for good only at commit) and
 * removes its linger file. Undo brings the account back with the same uid,
 * gid, home, shell and groups — the exact passwd, shadow, group and gshadow
 * lines — and puts home and linger file back. Protected users (root, below
 * UID_MIN, deny list) are refused before anything is touched.
 *
 * @example
 * ```ts
 * tx.add(removeUser({ name: 'app', removeHome: true, graceMs: 3000 }));
 * ```
 */
export const removeUser = defineStep({
  type: 'users.removeUser',
  package: '@unwind/users',
  args: Args,
  before: Before,
  validate: (a) => {
    validateUserName(a.name);
    assertNameNotProtected(a.name, a);
    validateCommon(a);
    if (a.lingerDir !== undefined) validateAbsolutePath(a.lingerDir, { what: 'linger directory' });
    if (a.graceMs !== undefined && !(a.graceMs >= 0)) throw new InvalidInputError('graceMs must be a non-negative number', { graceMs: a.graceMs });
  },
  describe: (a) => `remove user ${a.name}${a.removeHome ? ' and its home' : ''}${a.prefix ? ` in ${a.prefix}` : ''}`,
  retry: { do: { retries: 3, minTimeout: 1000 } },
  prepare: async (a, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (user) assertNotProtected(user, a);
    const primary = user ? await lookupGid(user.gid, lookupIn(a, ctx)) : undefined;
    let home: Before['home'] = null;
    if (user && a.removeHome) {
      const path = diskPath(a.prefix, user.home);
      if (fs.existsSync(path)) {
        checkMovableHome(a, user.home, path);
        home = { path, staging: join(dirname(path), `.unwind-home-${a.name}-${randomBytes(6).toString('hex')}`) };
      }
    }
    const linger = lingerPath(a);
    const st = fs.existsSync(linger) ? fs.lstatSync(linger) : undefined;
    const groups = [a.name, ...(primary ? [primary.name] : []), ...groupsMentioning(a.name, a.prefix)];
    return {
      existed: user !== undefined,
      user: user ?? null,
      primaryGroup: primary ? { name: primary.name, gid: primary.gid } : null,
      home,
      linger: { path: linger, existed: st ? { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : null },
      lines: captureLines(a.prefix, { passwd: [a.name], shadow: [a.name], group: groups, gshadow: groups, subuid: [a.name], subgid: [a.name] }),
    };
  },
  do: async (a, before, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (user) {
      if (a.stopProcesses !== false && (await mayStopProcesses(a, user.uid, ctx))) {
        await stopUserProcesses(ctx, a.name, user.uid, { ...(a.graceMs !== undefined ? { graceMs: a.graceMs } : {}), ...(a.prefix ? { prefix: a.prefix } : {}), ...(a.commandTimeoutMs ? { commandTimeoutMs: a.commandTimeoutMs } : {}) });
      }
      await shadowTool(ctx, a, 'userdel', [a.name], busy(a.name));
    }
    if (before.home && fs.existsSync(before.home.path)) {
      fs.mkdirSync(before.home.staging, { mode: 0o700, recursive: true });
      fs.renameSync(before.home.path, join(before.home.staging, STAGED));
      syncDirectory(before.home.staging);
      syncDirectory(dirname(before.home.path));
    }
    if (before.linger.existed && fs.existsSync(before.linger.path)) {
      fs.rmSync(before.linger.path);
      syncDirectory(dirname(before.linger.path));
    }
  },
  verify: async (a, before, _after, ctx) => {
    if (await lookupUser(a.name, lookupIn(a, ctx))) throw new VerificationError(`user "${a.name}" still exists`, { name: a.name });
    if (before.home && fs.existsSync(before.home.path)) throw new VerificationError(`home ${before.home.path} is still there`, { path: before.home.path });
    if (fs.existsSync(before.linger.path)) throw new VerificationError(`linger file ${before.linger.path} is still there`, { path: before.linger.path });
  },
  undo: async (a, before, _after, ctx) => {
    const old = before.user;
    if (old && !(await lookupUser(a.name, lookupIn(a, ctx)))) {
      const primary = before.primaryGroup;
      if (primary && !(await lookupGroup(primary.name, lookupIn(a, ctx)))) await shadowTool(ctx, a, 'groupadd', ['-g', String(primary.gid), primary.name]);
      // The entry comes back through useradd; the exact lines (password hash, aging, places) are put back below.
      const opts = ['-u', String(old.uid), '-g', String(old.gid), '-d', old.home, '-M', '-N'];
      if (old.shell) opts.push('-s', old.shell);
      if (old.comment) opts.push('-c', old.comment);
      await shadowTool(ctx, a, 'useradd', [...opts, a.name]);
    }
    await restoreLines(a.prefix, before.lines, ctx.signal);
    if (before.home) {
      const staged = join(before.home.staging, STAGED);
      if (fs.existsSync(staged) && !fs.existsSync(before.home.path)) {
        fs.renameSync(staged, before.home.path);
        syncDirectory(dirname(before.home.path));
      }
      removeIfEmpty(before.home.staging);
    }
    const linger = before.linger.existed;
    if (linger && !fs.existsSync(before.linger.path)) {
      const fd = fs.openSync(before.linger.path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, linger.mode);
      fs.fchownSync(fd, linger.uid, linger.gid);
      fs.fchmodSync(fd, linger.mode);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      syncDirectory(dirname(before.linger.path));
    }
  },
  verifyUndo: async (a, before) => {
    verifyLines(a.prefix, before.lines);
    if (before.home && !fs.existsSync(before.home.path)) throw new VerificationError(`home ${before.home.path} is not back`, { path: before.home.path });
    if (before.linger.existed && !fs.existsSync(before.linger.path)) throw new VerificationError(`linger file ${before.linger.path} is not back`, { path: before.linger.path });
  },
  commit: async (_a, before) => {
    if (!before.home) return;
    fs.rmSync(before.home.staging, { recursive: true, force: true });
    syncDirectory(dirname(before.home.path));
  },
  wouldChange: async (a, ctx) => (await lookupUser(a.name, lookupIn(a, ctx))) !== undefined || fs.existsSync(lingerPath(a)),
});

/**
 * With a prefix root the uid is the prefix's, but processes are the
 * machine's: never signal a uid the machine gives to another account.
 */
async function mayStopProcesses(a: Args, uid: number, ctx: Parameters<typeof lookupIn>[1]): Promise<boolean> {
  if (!a.prefix) return true;
  const host = await lookupUid(uid, { exec: ctx.exec, signal: ctx.signal });
  if ((host && host.name !== a.name) || uid < uidMin(undefined)) {
    ctx.log('not stopping processes of uid %d: on this machine it is %s', uid, host?.name ?? 'a system uid');
    return false;
  }
  return true;
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
}
