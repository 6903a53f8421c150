import { checkJournaledOrphanLine, tidyKilledTool } from './edit.js';
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import * as t from 'io-ts';
import { defineStep, UndoConflictError, UntrustedJournalError, validateAbsolutePath, VerificationError, type StepContext } from '@unwind/core';
import { CommonArgs, lookupIn, shadowTool } from './common.js';
import { dbPath, diskPath, keyOf, localGroups, lookupGroup, lookupUser, readLines, supplementaryGroups, type UserEntry } from './db.js';
import { UserConflictError } from './errors.js';
import { checkHomePath, checkNewHomeParent, homeBase } from './home.js';
import { CapturedLines } from './lines.js';
import { validateCommon, validateField, validateGroupName, validateHomeBase, validateId, validatePasswdField, validateUserName } from './names.js';
import { assertGroupNameNotProtected } from './membership.js';
import { assertNotProtected } from './protect.js';
import { assertGroupsJoinable, assertNoLockedGroupLeft, lockedPrimaryGid } from './joinable.js';
import { removeCreatedUser } from './remove-created-user.js';
import { revertChangedFields, verifyFieldsBack } from './revert-user-fields.js';
import { awaitUnlockedDatabases } from './unlocked.js';
import { useraddImageOptions } from './prefix-useradd.js';

const Args = t.intersection([
  t.type({ name: t.string }),
  t.partial({
    /** A system account (`useradd -r`). */
    system: t.boolean,
    uid: t.number,
    /** Home directory as written in passwd (under the prefix on disk). Default /home/NAME. */
    home: t.string,
    /** Create the home directory from the skeleton. Default: true for normal users, false for system users. */
    createHome: t.boolean,
    /** Where homes live: a created home must be below it to be removable by undo. Default: HOME of /etc/default/useradd, else /home; for a home outside it, its parent directory. */
    homeBase: t.string,
    shell: t.string,
    /** Primary group (by name). Default: a group named like the user. */
    group: t.string,
    /** Supplementary groups. */
    groups: t.array(t.string),
    /** Keep the user's other supplementary groups (default true). `false` makes `groups` the exact list. */
    appendGroups: t.boolean,
    comment: t.string,
  }),
  CommonArgs,
]);
/** Arguments of {@link ensureUser}. */
export type EnsureUserArgs = t.TypeOf<typeof Args>;

/** The line of `key` in a database file, or null. */
function orphanLine(prefix: string | undefined, file: 'shadow' | 'gshadow', key: string): string | null {
  return readLines(dbPath(prefix, file)).find((l) => keyOf(l) === key) ?? null;
}

/** A passwd entry as journaled in the before-states of ensureUser and removeUser. */
export const UserEntryCodec = t.type({ name: t.string, uid: t.number, gid: t.number, comment: t.string, home: t.string, shell: t.string });

const Before = t.intersection([
  t.type({
    existed: t.boolean,
    user: t.union([UserEntryCodec, t.null]),
    /** Supplementary groups before. */
    groups: t.array(t.string),
    /** The home field (existing, or the one `do` will use). */
    home: t.string,
    homeExisted: t.boolean,
  }),
  /** Whether a group named like the user existed (then it is never removed); older versions captured lines instead. */
  t.partial({
    sameNameGroup: t.boolean,
    lines: t.array(CapturedLines),
    /** For an account that did not exist: a shadow line of its name found anyway (an orphan; null: none), and likewise the gshadow line of a group named like it. Put back by the undo; older versions recorded neither. */
    shadowLine: t.union([t.string, t.null]),
    gshadowLine: t.union([t.string, t.null]),
  }),
]);
/** Before-state of {@link ensureUser}. */
export type EnsureUserBefore = t.TypeOf<typeof Before>;
const After = t.type({ uid: t.number, gid: t.number, home: t.string, created: t.boolean });
/** After-state of {@link ensureUser}. */
export type EnsureUserAfter = t.TypeOf<typeof After>;

/** usermod options that bring `user` to what `a` asks for; empty when nothing differs. */
async function changesFor(a: EnsureUserArgs, user: UserEntry, ctx: StepContext): Promise<string[]> {
  const opts: string[] = [];
  if (a.home !== undefined && a.home !== user.home) opts.push('-d', a.home);
  if (a.shell !== undefined && a.shell !== user.shell) opts.push('-s', a.shell);
  if (a.comment !== undefined && a.comment !== user.comment) opts.push('-c', a.comment);
  if (a.group !== undefined && (await lookupGroup(a.group, lookupIn(a, ctx)))?.gid !== user.gid) opts.push('-g', a.group);
  if (a.groups !== undefined) {
    const current = supplementaryGroups(user.name, a.prefix);
    const wanted = [...new Set(a.groups)];
    if (a.appendGroups === false) {
      if (!sameSet(current, wanted)) opts.push('-G', wanted.join(','));
    } else {
      const missing = wanted.filter((g) => !current.includes(g));
      if (missing.length) opts.push('-a', '-G', missing.join(','));
    }
  }
  return opts;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Whether a group named like the user existed before the step (so it is not the step's to remove). */
export function sameNameGroupExisted(a: EnsureUserArgs, before: EnsureUserBefore): boolean {
  if (before.sameNameGroup !== undefined) return before.sameNameGroup;
  // Older journals: the captured group lines; none captured means "cannot tell", which keeps the group.
  const captured = before.lines?.find((c) => c.file === 'group' && c.key === a.name);
  return captured === undefined || captured.lines.length > 0;
}

/** The base below which a home this step creates must lie (so undo may remove it). */
export function createdHomeBase(a: EnsureUserArgs, home: string): string {
  if (a.homeBase !== undefined) return a.homeBase;
  const base = homeBase(a);
  return home.startsWith(`${base}/`) ? base : dirname(home);
}

/**
 * Makes sure a user exists with the given uid, home, shell, primary and
 * supplementary groups (`useradd`, or `usermod` for what differs). Undo is
 * field-level and compare-and-swap: for a user it created, it removes the
 * account (and the home and private group it created) only while the
 * account still is what the step created; for an existing user it sets back
 * only the fields and memberships it changed, and only where they still
 * hold what the step left — an admin's edit in between is an
 * UndoConflictError, never overwritten. Protected users (root, below
 * UID_MIN, deny list) are never changed or removed.
 *
 * @example
 * ```ts
 * tx.add(ensureUser({ name: 'app', system: true, home: '/var/lib/app', createHome: true, shell: '/usr/sbin/nologin', groups: ['managed'] }));
 * ```
 */
export const ensureUser = defineStep({
  type: 'users.ensureUser',
  package: '@unwind/users',
  args: Args,
  before: Before,
  after: After,
  validate: (a) => {
    validateUserName(a.name);
    validateId(a.uid, 'uid');
    if (a.group !== undefined) {
      validateGroupName(a.group, 'primary group');
      assertGroupNameNotProtected(a.group, a);
    }
    for (const g of a.groups ?? []) {
      validateGroupName(g, 'supplementary group');
      assertGroupNameNotProtected(g, a);
    }
    if (a.home !== undefined) validateAbsolutePath(a.home, { what: 'home' });
    validateHomeBase(a.homeBase);
    validateField(a.home, 'home');
    validateField(a.shell, 'shell');
    validateField(a.comment, 'comment');
    validateCommon(a);
  },
  describe: (a) => `ensure ${a.system ? 'system ' : ''}user ${a.name}${a.uid !== undefined ? ` (uid ${a.uid})` : ''}${a.prefix ? ` in ${a.prefix}` : ''}`,
  prepare: async (a, ctx) => {
    // Another program's lock on the databases: refused now, before anything, not after the tools' 15 s waits and do's retries.
    await awaitUnlockedDatabases(a.prefix, ctx.signal);
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (user && a.uid !== undefined && user.uid !== a.uid) {
      throw new UserConflictError(`user "${a.name}" exists with uid ${user.uid}, not ${a.uid}; unwind does not renumber accounts`, { name: a.name, uid: user.uid, wanted: a.uid });
    }
    if (user && (await changesFor(a, user, ctx)).length > 0) assertNotProtected(user, a);
    await assertGroupsJoinable(a, user, ctx);
    if (user) await assertNoLockedGroupLeft(a, user, ctx);
    const home = user?.home ?? a.home ?? `${homeBase(a)}/${a.name}`;
    const homeExisted = fs.existsSync(diskPath(a.prefix, home));
    // A home the step creates must be one its undo may remove: refused now rather than stuck in a rollback.
    if (!user && (a.createHome ?? !a.system) && !homeExisted) {
      checkHomePath(a.name, home, createdHomeBase(a, home));
      checkNewHomeParent(a.name, home, a.prefix);
    }
    // What useradd would take from the image as a path here (its skeleton, the mailbox): refused now if it leads out.
    if (!user && a.prefix) useraddImageOptions(a.prefix, { name: a.name, createHome: a.createHome ?? !a.system, system: a.system ?? false });
    return {
      existed: user !== undefined,
      user: user ?? null,
      groups: user ? supplementaryGroups(a.name, a.prefix) : [],
      home,
      homeExisted,
      sameNameGroup: (await lookupGroup(a.name, lookupIn(a, ctx))) !== undefined,
      ...(user ? {} : { shadowLine: orphanLine(a.prefix, 'shadow', a.name), gshadowLine: orphanLine(a.prefix, 'gshadow', a.name) }),
    };
  },
  do: async (a, before, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    // Checked at prepare, again now: a group may have been renumbered since.
    await assertGroupsJoinable(a, user, ctx);
    if (user) await assertNoLockedGroupLeft(a, user, ctx);
    if (!user) {
      const opts: string[] = [];
      if (a.system) opts.push('-r');
      if (a.uid !== undefined) opts.push('-u', String(a.uid));
      // A group named like the user that already exists would make useradd refuse to create the user's own group.
      if (a.group !== undefined) opts.push('-g', a.group);
      else if (await lookupGroup(a.name, lookupIn(a, ctx))) opts.push('-g', a.name);
      if (a.groups?.length) opts.push('-G', [...new Set(a.groups)].join(','));
      opts.push('-d', before.home, (a.createHome ?? !a.system) ? '-m' : '-M');
      // With -P, useradd would still write the machine's own lastlog and faillog.
      if (a.prefix) opts.push('-l');
      // Judged again now, and the image's own skeleton named explicitly (see useraddImageOptions).
      if (a.prefix) opts.push(...useraddImageOptions(a.prefix, { name: a.name, createHome: a.createHome ?? !a.system, system: a.system ?? false }));
      if (a.shell !== undefined) opts.push('-s', a.shell);
      if (a.comment !== undefined) opts.push('-c', a.comment);
      await shadowTool(ctx, a, 'useradd', [...opts, a.name]);
    } else {
      const opts = await changesFor(a, user, ctx);
      if (opts.length) {
        assertNotProtected(user, a);
        await shadowTool(ctx, a, 'usermod', [...opts, a.name]);
      }
    }
    const now = await lookupUser(a.name, lookupIn(a, ctx));
    if (!now) throw new VerificationError(`user "${a.name}" is not there after useradd`, { name: a.name });
    return { uid: now.uid, gid: now.gid, home: now.home, created: !before.existed };
  },
  verify: async (a, _before, after, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (!user) throw new VerificationError(`user "${a.name}" does not exist`, { name: a.name });
    const wrong = (what: string, actual: unknown, expected: unknown) => new VerificationError(`user "${a.name}" has ${what} ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`, { name: a.name, what });
    if (a.uid !== undefined && user.uid !== a.uid) throw wrong('uid', user.uid, a.uid);
    if (a.home !== undefined && user.home !== a.home) throw wrong('home', user.home, a.home);
    if (a.shell !== undefined && user.shell !== a.shell) throw wrong('shell', user.shell, a.shell);
    if (a.comment !== undefined && user.comment !== a.comment) throw wrong('comment', user.comment, a.comment);
    if (a.group !== undefined) {
      const gid = (await lookupGroup(a.group, lookupIn(a, ctx)))?.gid;
      if (gid !== user.gid) throw wrong('primary gid', user.gid, gid);
    }
    const current = supplementaryGroups(a.name, a.prefix);
    for (const g of a.groups ?? []) if (!current.includes(g)) throw wrong('supplementary groups', current, a.groups);
    if (a.appendGroups === false && a.groups && !sameSet(current, [...new Set(a.groups)])) throw wrong('supplementary groups', current, a.groups);
    if (after.created && (a.createHome ?? !a.system) && !fs.existsSync(diskPath(a.prefix, user.home))) throw wrong('no home directory at', diskPath(a.prefix, user.home), 'a directory');
  },
  validateJournaled: (a, before, after) => {
    const bad = (why: string) => new UntrustedJournalError(`users.ensureUser "${a.name}": ${why}`, { name: a.name });
    if (before.user && before.user.name !== a.name) throw bad(`the journaled account is "${before.user.name}"`);
    if (before.existed !== (before.user !== null)) throw bad('existed and the journaled account disagree');
    if (before.user && before.home !== before.user.home) throw bad('the journaled home is not the account\'s');
    if (after && after.created === before.existed) throw bad('the after-state disagrees with whether the account existed');
    if (after && a.uid !== undefined && after.uid !== a.uid) throw bad(`it recorded uid ${after.uid}, not the uid ${a.uid} it was given`);
    validateAbsolutePath(before.home, { what: 'journaled home' });
    if (before.user) {
      for (const field of ['home', 'shell'] as const) validateField(before.user[field], `journaled ${field}`);
      // The account's own comment: its user may have set one starting with '-' (chfn allows it); it only ever follows -c.
      validatePasswdField(before.user.comment, 'journaled comment');
    }
    // The undo sets the journaled primary gid back when the step changed it: never to gid 0, a privileged or a deny-listed group.
    if (before.user && a.group !== undefined) {
      const set = after?.gid ?? localGroups(a.prefix).find((g) => g.name === a.group)?.gid;
      const locked = set === before.user.gid ? undefined : lockedPrimaryGid(before.user.gid, a);
      if (locked) throw bad(`it would make gid ${before.user.gid} (${locked}) the primary group of "${a.name}" again, and unwind gives no account such a primary group`);
    }
    for (const g of before.groups) validateGroupName(g, 'journaled supplementary group');
    checkJournaledOrphanLine(before.shadowLine, a.name, bad);
    checkJournaledOrphanLine(before.gshadowLine, a.name, bad);
  },
  undo: async (a, before, after, ctx) => {
    if (!before.existed) return removeCreatedUser(a, before, after, ctx);
    if (before.user) await revertChangedFields(a, before.user, before.groups, after, ctx);
    await tidyKilledTool(a.prefix, ctx.signal);
  },
  verifyUndo: async (a, before, ctx) => {
    if (!before.existed) {
      if (await lookupUser(a.name, lookupIn(a, ctx))) throw new VerificationError(`user "${a.name}" created by the step is still there`, { name: a.name });
      if (!before.homeExisted && fs.existsSync(diskPath(a.prefix, before.home))) {
        throw new VerificationError(`home ${diskPath(a.prefix, before.home)} created for "${a.name}" is still there`, { name: a.name });
      }
      return;
    }
    if (before.user) await verifyFieldsBack(a, before.user, before.groups, ctx);
  },
  wouldChange: async (a, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    return !user || (await changesFor(a, user, ctx)).length > 0;
  },
});

/** Throws UndoConflictError: `subject` is no longer what the step left. */
export function conflict(subject: string, expected: string, found: string, context: Record<string, unknown> = {}): never {
  throw new UndoConflictError(subject, expected, found, context);
}
