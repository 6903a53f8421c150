import * as fs from 'node:fs';
import * as t from 'io-ts';
import { defineStep, validateAbsolutePath, VerificationError, type StepContext } from '@unwind/core';
import { assertNotProtected, CommonArgs, lookupIn, shadowTool } from './common.js';
import { diskPath, lookupGroup, lookupUser, supplementaryGroups, type UserEntry } from './db.js';
import { UserConflictError } from './errors.js';
import { captureLines, CapturedLines, restoreLines, verifyLines } from './lines.js';
import { validateCommon, validateField, validateGroupName, validateId, validateUserName } from './names.js';

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
type Args = t.TypeOf<typeof Args>;

/** A passwd entry as journaled in the before-states of ensureUser and removeUser. */
export const UserEntryCodec = t.type({ name: t.string, uid: t.number, gid: t.number, comment: t.string, home: t.string, shell: t.string });

const Before = t.type({
  existed: t.boolean,
  user: t.union([UserEntryCodec, t.null]),
  /** Supplementary groups before. */
  groups: t.array(t.string),
  /** The home field (existing, or the one `do` will use). */
  home: t.string,
  homeExisted: t.boolean,
  lines: t.array(CapturedLines),
});
type Before = t.TypeOf<typeof Before>;
const After = t.type({ uid: t.number, gid: t.number, home: t.string, created: t.boolean });

/** usermod options that bring `user` to what `a` asks for; empty when nothing differs. */
async function changesFor(a: Args, user: UserEntry, ctx: StepContext): Promise<string[]> {
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

/**
 * Makes sure a user exists with the given uid, home, shell, primary and
 * supplementary groups (`useradd`, or `usermod` for what differs). Undo
 * deletes a user it created (and the home it created), or sets the old
 * values back, then puts the exact passwd, shadow, group and gshadow lines
 * back. Protected users (root, below UID_MIN, deny list) are never changed.
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
    if (a.group !== undefined) validateGroupName(a.group, 'primary group');
    for (const g of a.groups ?? []) validateGroupName(g, 'supplementary group');
    if (a.home !== undefined) validateAbsolutePath(a.home, { what: 'home' });
    validateField(a.home, 'home');
    validateField(a.shell, 'shell');
    validateField(a.comment, 'comment');
    validateCommon(a);
  },
  describe: (a) => `ensure ${a.system ? 'system ' : ''}user ${a.name}${a.uid !== undefined ? ` (uid ${a.uid})` : ''}${a.prefix ? ` in ${a.prefix}` : ''}`,
  prepare: async (a, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (user && a.uid !== undefined && user.uid !== a.uid) {
      throw new UserConflictError(`user "${a.name}" exists with uid ${user.uid}, not ${a.uid}; unwind does not renumber accounts`, { name: a.name, uid: user.uid, wanted: a.uid });
    }
    if (user && (await changesFor(a, user, ctx)).length > 0) assertNotProtected(user, a);
    const groups = user ? supplementaryGroups(a.name, a.prefix) : [];
    const home = user?.home ?? a.home ?? `/home/${a.name}`;
    const touchedGroups = [a.name, ...(a.group ? [a.group] : []), ...(a.groups ?? []), ...groups, ...supplementaryGroups(a.name, a.prefix)];
    return {
      existed: user !== undefined,
      user: user ?? null,
      groups,
      home,
      homeExisted: fs.existsSync(diskPath(a.prefix, home)),
      lines: captureLines(a.prefix, { passwd: [a.name], shadow: [a.name], group: touchedGroups, gshadow: touchedGroups, subuid: [a.name], subgid: [a.name] }),
    };
  },
  do: async (a, before, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (!user) {
      const opts: string[] = [];
      if (a.system) opts.push('-r');
      if (a.uid !== undefined) opts.push('-u', String(a.uid));
      // A group named like the user that already exists would make useradd refuse to create the user's own group.
      if (a.group !== undefined) opts.push('-g', a.group);
      else if (await lookupGroup(a.name, lookupIn(a, ctx))) opts.push('-g', a.name);
      if (a.groups?.length) opts.push('-G', [...new Set(a.groups)].join(','));
      opts.push('-d', before.home, (a.createHome ?? !a.system) ? '-m' : '-M');
      if (a.shell !== undefined) opts.push('-s', a.shell);
      if (a.comment !== undefined) opts.push('-c', a.comment);
      await shadowTool(ctx, a, 'useradd', [...opts, a.name]);
    } else {
      const opts = await changesFor(a, user, ctx);
      if (opts.length) await shadowTool(ctx, a, 'usermod', [...opts, a.name]);
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
  undo: async (a, before, after, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (!before.existed) {
      if (user) await shadowTool(ctx, a, 'userdel', [a.name]);
      const home = diskPath(a.prefix, before.home);
      const owner = after?.uid ?? user?.uid;
      // Only a home this step created: it did not exist before and belongs to the created user.
      if (!before.homeExisted && owner !== undefined && fs.existsSync(home) && fs.lstatSync(home).uid === owner) {
        fs.rmSync(home, { recursive: true, force: true });
      }
    } else if (user && before.user) {
      const old = before.user;
      const opts: string[] = [];
      if (user.home !== old.home) opts.push('-d', old.home);
      if (user.shell !== old.shell) opts.push('-s', old.shell);
      if (user.comment !== old.comment) opts.push('-c', old.comment);
      if (user.gid !== old.gid) opts.push('-g', String(old.gid));
      if (!sameSet(supplementaryGroups(a.name, a.prefix), before.groups)) opts.push('-G', before.groups.join(','));
      if (opts.length) await shadowTool(ctx, a, 'usermod', [...opts, a.name]);
    }
    await restoreLines(a.prefix, before.lines, ctx.signal);
  },
  verifyUndo: async (a, before) => {
    verifyLines(a.prefix, before.lines);
    if (!before.existed && !before.homeExisted && fs.existsSync(diskPath(a.prefix, before.home))) {
      throw new VerificationError(`home ${diskPath(a.prefix, before.home)} created for "${a.name}" is still there`, { name: a.name });
    }
  },
  wouldChange: async (a, ctx) => {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    return !user || (await changesFor(a, user, ctx)).length > 0;
  },
});
