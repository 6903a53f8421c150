import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as t from 'io-ts';
import { defineStep, mountPointsAt, onOverlay, removeTreeSafely, renameDurably, syncDirectory, UnwindError, validateAbsolutePath, VerificationError, type CommandResult, type StepContext } from '@unwind/core';
import { assertNameNotProtected, assertNotProtected, CommonArgs, entryExists, lookupIn, shadowTool, userBusy } from './common.js';
import { allUsers, dbPath, diskPath, keyOf, lookupGid, lookupUid, lookupUser, readLines, type UserEntry } from './db.js';
import { UserEntryCodec } from './ensure-user.js';
import { ImmovableHomeError, ProtectedUserError, UnsafeHomeError, UserBusyError } from './errors.js';
import { lockedGroups } from './membership.js';
import { membershipProtection, uidRanges } from './protect.js';
import { logindSaysLingering, tellsLogind } from './logind-linger.js';
import { checkRemovableHome, homeBase } from './home.js';
import { lingerFileToRemove, removeLingerFile } from './linger-file.js';
import { inPrefix, machinePathInPrefix } from './prefix.js';
import { captureLines, CapturedLines } from './lines.js';
import { validateCommon, validateHomeBase, validateMilliseconds, validateUserName } from './names.js';
import { stopUserProcesses } from './processes.js';
import { restoreRemovedUser, validateRemovedUserJournal, verifyRemovedUserBack } from './restore-removed-user.js';
import { subordinateRangeProblem } from './subordinate-ids.js';
import { awaitUnlockedDatabases } from './unlocked.js';

const Args = t.intersection([
  t.type({ name: t.string }),
  t.partial({
    /** Remove the home directory too (staged; deleted for good only at commit). Default false, like userdel. */
    removeHome: t.boolean,
    /** Homes are removed only below this directory. Default: HOME of /etc/default/useradd, else /home. */
    homeBase: t.string,
    /** Stop the user's manager and processes first (default true). */
    stopProcesses: t.boolean,
    /** Time between TERM and KILL, in ms (default 5000). */
    graceMs: t.number,
    /** The linger directory (default PREFIX/var/lib/systemd/linger). */
    lingerDir: t.string,
  }),
  CommonArgs,
]);
/** Arguments of {@link removeUser}. */
export type RemoveUserArgs = t.TypeOf<typeof Args>;

const FileMeta = t.type({ mode: t.number, uid: t.number, gid: t.number });
const Before = t.type({
  existed: t.boolean,
  user: t.union([UserEntryCodec, t.null]),
  primaryGroup: t.union([t.type({ name: t.string, gid: t.number }), t.null]),
  /** Where the home lives on disk and where it is staged; null when the home is kept or missing. */
  home: t.union([t.type({ path: t.string, staging: t.string }), t.null]),
  linger: t.intersection([
    t.type({ path: t.string, existed: t.union([FileMeta, t.null]) }),
    /** Whether logind itself said the user lingers (its manager kept running): only then does the undo tell logind again. */
    t.partial({ logind: t.boolean }),
  ]),
  /** The removed entries and the group lines naming the user, captured to put back only what the step removed. */
  lines: t.array(CapturedLines),
});
/** Before-state of {@link removeUser}. */
export type RemoveUserBefore = t.TypeOf<typeof Before>;

const STAGED = 'home';
/** The staging directory's name: beside the home, hidden, the kind's own (checked on journaled values). */
export const STAGING_NAME = /^\.unwind-home-([a-z_][a-z0-9_-]*[$]?)-[0-9a-f]{12}$/;

/** The linger file of the step's user. */
export function lingerPath(a: RemoveUserArgs): string {
  return join(a.lingerDir ?? (a.prefix ? inPrefix(a.prefix, '/var/lib/systemd/linger') : '/var/lib/systemd/linger'), a.name);
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

/**
 * The home checks (see checkRemovableHome), plus: not a mount point (it is
 * staged by a rename on its parent's filesystem, which the kernel refuses
 * for a mount point, EBUSY, even a bind mount of the same filesystem), and
 * nothing mounted inside it (deleting it at commit would delete what is
 * mounted there, and the commit's removal refuses it: better said before
 * anything is touched).
 */
async function movableHome(a: RemoveUserArgs, user: UserEntry, ctx: StepContext): Promise<string> {
  const path = checkRemovableHome(user, user.uid, await allUsers(lookupIn(a, ctx)), a);
  const real = fs.realpathSync(path);
  const [mountPoint] = mountPointsAt(real);
  if (fs.lstatSync(path).dev !== fs.statSync(dirname(path)).dev || mountPoint === real) {
    throw new UnwindError('CROSS_DEVICE', `home ${path} is a mount point; it cannot be staged by rename on its parent's filesystem`, { context: { name: a.name, path } });
  }
  if (mountPoint !== undefined) throw new UnsafeHomeError(a.name, user.home, `has a filesystem mounted inside it (${mountPoint}); removing the home would remove what is mounted there`);
  return path;
}

/**
 * Removes a user: stops its manager and processes (TERM, grace, KILL),
 * deletes the account (`userdel`, retried while the user is busy), stages
 * its home aside when `removeHome` (deleted for good only at commit) and
 * removes its linger file. A home is removed only when it is a proper
 * subdirectory of the home base, owned by the user, and nobody else's home
 * or a parent of one. Undo brings back only what the step removed: the
 * account's own entries, the user's place in each group it was in, the
 * home and the linger file (and, where systemd runs, tells logind with
 * `loginctl enable-linger`, so the user's manager runs again at once, not
 * after the next boot) — never whole group lines, so an admin's edits
 * to those groups in between stay; an entry someone created meanwhile is an
 * UndoConflictError. Protected users (root, below UID_MIN, deny list) are
 * refused before anything is touched, and again in do, undo and commit.
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
    validateHomeBase(a.homeBase);
    validateMilliseconds(a.graceMs, 'graceMs', 0);
  },
  describe: (a) => `remove user ${a.name}${a.removeHome ? ' and its home' : ''}${a.prefix ? ` in ${a.prefix}` : ''}`,
  retry: { do: { retries: 3, minTimeout: 1000 } },
  prepare: async (a, ctx) => {
    // Another program's lock on the databases: refused now, before anything, not after the tools' 15 s waits and do's retries.
    await awaitUnlockedDatabases(a.prefix, ctx.signal);
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (user) assertNotProtected(user, a);
    const primary = user ? await lookupGid(user.gid, lookupIn(a, ctx)) : undefined;
    let home: RemoveUserBefore['home'] = null;
    if (user && a.removeHome && entryExists(diskPath(a.prefix, user.home))) {
      const path = await movableHome(a, user, ctx);
      home = { path, staging: join(dirname(path), `.unwind-home-${a.name}-${randomBytes(6).toString('hex')}`) };
    }
    // Told to act on an image: a linger directory named outside it would be the machine's.
    if (a.prefix && a.lingerDir !== undefined) machinePathInPrefix(a.prefix, a.lingerDir);
    const linger = lingerPath(a);
    // Only an empty regular file in a root-only directory: else `{ name: 'shadow', lingerDir: '/etc' }` would delete /etc/shadow.
    const st = lingerFileToRemove(linger);
    const logind = st && tellsLogind(a, linger) ? await logindSaysLingering(a, ctx) : undefined;
    const mentioning = groupsMentioning(a.name, a.prefix);
    // Its undo could not put the membership back (no route of unwind changes those groups): refused before anything is touched.
    const locked = mentioning.filter((g) => lockedGroups(a).has(g));
    // Likewise its primary group: the undo would make the account a member of it again.
    const primaryLocked = user ? membershipProtection(primary ?? { name: '', gid: user.gid }, a) : undefined;
    if (user && primaryLocked) throw new ProtectedUserError(a.name, `its primary group is ${primary?.name ?? `gid ${user.gid}`} (${primaryLocked}, whose members unwind never changes)`, { gid: user.gid });
    if (user && locked.length > 0) throw new ProtectedUserError(a.name, `a member of ${locked.join(', ')} (gid 0, privileged or deny-listed groups, whose members unwind never changes)`, { groups: locked });
    const groups = [a.name, ...(primary ? [primary.name] : []), ...mentioning];
    const lines = captureLines(a.prefix, { passwd: [a.name], shadow: [a.name], group: groups, gshadow: groups, subuid: [a.name], subgid: [a.name] });
    // Its undo writes these ranges back, and recovery refuses a journal with such a range: refused now, with nothing touched.
    for (const c of lines) {
      if (c.file !== 'subuid' && c.file !== 'subgid') continue;
      for (const line of c.lines) {
        const problem = subordinateRangeProblem(line);
        if (problem) throw new ProtectedUserError(a.name, `its ${c.file} range ${JSON.stringify(line)} could not be put back by an undo: ${problem}`, { file: c.file });
      }
    }
    return {
      existed: user !== undefined,
      user: user ?? null,
      primaryGroup: primary ? { name: primary.name, gid: primary.gid } : null,
      home,
      linger: { path: linger, existed: st ? { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : null, ...(logind !== undefined ? { logind } : {}) },
      lines,
    };
  },
  do: async (a, before, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (user) {
      assertNotProtected(user, a);
      if (a.stopProcesses !== false && (await mayStopProcesses(a, user.uid, ctx))) {
        await stopUserProcesses(ctx, a.name, user.uid, { ...(a.graceMs !== undefined ? { graceMs: a.graceMs } : {}), ...(a.prefix ? { prefix: a.prefix } : {}), ...(a.commandTimeoutMs ? { commandTimeoutMs: a.commandTimeoutMs } : {}) });
      }
      await shadowTool(ctx, a, 'userdel', [a.name], userBusy(a.name));
    }
    if (before.home && before.user && entryExists(before.home.path)) {
      // Decided at prepare, checked again now: the home may have been swapped since.
      const path = await movableHome(a, before.user, ctx);
      if (path !== before.home.path) throw new UnsafeHomeError(a.name, before.user.home, `is now at ${path}, not ${before.home.path}`);
      fs.mkdirSync(before.home.staging, { mode: 0o700 });
      // The staging directory's own name must be durable before the home moves into it: else a power
      // cut could keep the rename and lose the directory's entry, and the home with it.
      syncDirectory(dirname(before.home.staging));
      try {
        renameDurably(before.home.path, join(before.home.staging, STAGED));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV' || !onOverlay(before.home.path)) throw error;
        throw new ImmovableHomeError(a.name, before.home.path, "it is a directory of an overlay filesystem's lower layer (an account made when a container image was built), which rename(2) moves only on a mount with redirect_dir=on; remove the user with removeHome: false and its home with files.remove and allowCopy: true");
      }
    }
    if (before.linger.existed && entryExists(before.linger.path)) {
      removeLingerFile(before.linger.path);
      syncDirectory(dirname(before.linger.path));
    }
  },
  verify: async (a, before, _after, ctx) => {
    if (await lookupUser(a.name, lookupIn(a, ctx))) throw new VerificationError(`user "${a.name}" still exists`, { name: a.name });
    if (before.home && entryExists(before.home.path)) throw new VerificationError(`home ${before.home.path} is still there`, { path: before.home.path });
    if (entryExists(before.linger.path)) throw new VerificationError(`linger file ${before.linger.path} is still there`, { path: before.linger.path });
  },
  validateJournaled: (a, before) => validateRemovedUserJournal(a, before, { homeBase: homeBase(a), lingerPath: lingerPath(a), staging: STAGING_NAME }),
  undo: async (a, before, _after, ctx) => restoreRemovedUser(a, before, ctx),
  verifyUndo: async (a, before, ctx) => verifyRemovedUserBack(a, before, ctx),
  commit: async (a, before) => {
    if (!before.home || !before.user) return;
    // The journal is input: the staging directory must still be the kind's own, holding this user's home.
    assertNotProtected(before.user, a);
    const { staging } = before.home;
    if (!STAGING_NAME.test(basename(staging)) || dirname(staging) !== dirname(before.home.path)) throw new UnsafeHomeError(a.name, staging, 'is not a staging directory of this step');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(staging);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // already deleted
      throw error;
    }
    if (!st.isDirectory() || st.uid !== process.getuid?.()) throw new UnsafeHomeError(a.name, staging, 'is not a directory this process made');
    const staged = join(staging, STAGED);
    if (entryExists(staged)) {
      const home = fs.lstatSync(staged);
      if (!home.isDirectory() || home.uid !== before.user.uid) throw new UnsafeHomeError(a.name, staged, `is not the staged home of uid ${before.user.uid}`);
    }
    // Through directory descriptors: the user's processes in other PID namespaces may still swap entries inside.
    removeTreeSafely(staging);
    syncDirectory(dirname(before.home.path));
  },
  wouldChange: async (a, ctx) => (await lookupUser(a.name, lookupIn(a, ctx))) !== undefined || entryExists(lingerPath(a)),
});

/**
 * With a prefix root the uid is the prefix's, but processes are the
 * machine's: never signal a uid the machine gives to another account.
 */
async function mayStopProcesses(a: RemoveUserArgs, uid: number, ctx: StepContext): Promise<boolean> {
  if (!a.prefix) return true;
  const host = await lookupUid(uid, { exec: ctx.exec, signal: ctx.signal });
  // The machine's own ranges, not the image's: above its UID_MAX lie the subordinate ids other users'
  // containers run as, which an image that raises its UID_MAX could otherwise get signalled.
  const ranges = uidRanges(undefined);
  const why = host && host.name !== a.name ? host.name : uid < ranges.min ? 'a system uid' : uid > ranges.max ? `above its UID_MAX ${ranges.max}` : undefined;
  if (why !== undefined) {
    ctx.log('not stopping processes of uid %d: on this machine it is %s', uid, why);
    return false;
  }
  return true;
}
