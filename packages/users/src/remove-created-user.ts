import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname } from 'node:path';
import * as t from 'io-ts';
import { decodeJournaled, removeTreeSafely, syncDirectory, UndoConflictError, UntrustedJournalError, type StepContext } from '@unwind/core';
import { lookupIn, shadowTool, userBusy } from './common.js';
import { allUsers, diskPath, keyOf, lookupGroup, lookupUid, lookupUser, parseId, type DbFile, type UserEntry } from './db.js';
import { editDatabase, restoreOrphanLine, tidyKilledTool } from './edit.js';
import { applyCaptured, captureLines, CapturedLines } from './lines.js';
import { createdHomeBase, sameNameGroupExisted, type EnsureUserAfter, type EnsureUserArgs, type EnsureUserBefore } from './ensure-user.js';
import { UnsafeHomeError, UserBusyError } from './errors.js';
import { checkHomePath, checkRemovableHome } from './home.js';
import { assertRemovableCreated } from './protect.js';


/**
 * The undo of an ensureUser that created the account — also after useradd
 * was killed half-way (home made, passwd not written yet; or the private
 * group written, the user not). Removes only what provably is this step's:
 * the account while it still carries what the step created (uid, gid,
 * home, shell, comment) and is not protected; the private group useradd
 * made for it (named like the user, not there before, no members, nobody's
 * primary group); the home it created (see removeCreatedHome). Anything
 * else found there is an UndoConflictError and nothing is touched.
 */
export async function removeCreatedUser(a: EnsureUserArgs, before: EnsureUserBefore, after: EnsureUserAfter | undefined, ctx: StepContext): Promise<void> {
  const user = await lookupUser(a.name, lookupIn(a, ctx));
  if (user) await checkStillAsCreated(a, before, after, user, ctx);
  const home = homeStat(a, before);
  const uid = user?.uid ?? after?.uid ?? a.uid;
  if (user) await deleteAccount(a, before, ctx);
  await finishHalfRunUserdel(a, before, ctx);
  await putBackKeptGroup(a, ctx);
  await removePrivateGroup(a, before, user?.gid ?? after?.gid ?? home?.gid, ctx);
  await removeCreatedHome(a, before, uid, home, ctx);
  // A useradd killed mid-write leaves <file>.lock, <file>.<pid> and <file>+: shadow would take them over, the directory keeps them.
  await tidyKilledTool(a.prefix, ctx.signal);
}

async function checkStillAsCreated(a: EnsureUserArgs, before: EnsureUserBefore, after: EnsureUserAfter | undefined, user: UserEntry, ctx: StepContext): Promise<void> {
  assertRemovableCreated('user', { name: user.name, id: user.uid }, { prefix: a.prefix, protect: a.protect, system: a.system, id: a.uid });
  const expect = (what: string, expected: string | number, found: string | number) => {
    if (expected !== found) throw new UndoConflictError(`user "${a.name}"`, `${what} ${JSON.stringify(expected)} (as this step created it)`, `${what} ${JSON.stringify(found)}`, { name: a.name, field: what });
  };
  if (after) {
    expect('uid', after.uid, user.uid);
    expect('gid', after.gid, user.gid);
  }
  if (a.uid !== undefined) expect('uid', a.uid, user.uid);
  expect('home', before.home, user.home);
  if (a.shell !== undefined) expect('shell', a.shell, user.shell);
  expect('comment', a.comment ?? '', user.comment);
  if (a.group !== undefined) {
    const group = await lookupGroup(a.group, lookupIn(a, ctx));
    if (group) expect('primary gid', group.gid, user.gid);
  }
}

const KEPT_GROUP = 'kept-group';

/**
 * `userdel` the account. userdel also deletes a group named like the user
 * that is its primary group and has no members — a group that existed
 * before the step is not the step's to delete, so its lines are kept in the
 * step's blobs first (surviving a crash between the two) and put back.
 */
async function deleteAccount(a: EnsureUserArgs, before: EnsureUserBefore, ctx: StepContext): Promise<void> {
  if (sameNameGroupExisted(a, before) && (await lookupGroup(a.name, lookupIn(a, ctx))) && !(await ctx.blobs.has(KEPT_GROUP))) {
    await ctx.blobs.write(KEPT_GROUP, JSON.stringify(captureLines(a.prefix, { group: [a.name], gshadow: [a.name] })));
  }
  await userdelWhenIdle(a, ctx);
}

/**
 * How long the undo waits for the created user's processes to end on their
 * own. They are the transaction's: the user did not exist before it. The
 * usual one is the user's manager, which logind stops by itself once an
 * earlier undo turned linger off — after `loginctl` has returned.
 */
const IDLE_WITHIN_MS = 15_000;

/**
 * `userdel`, asked again (waits from 0.1 s, doubling, up to 2 s) while it
 * says the user is in use, for up to 15 s; then the UserBusyError stands
 * (the rollback fails and names it: unwind does not kill processes it
 * cannot tell are the transaction's own).
 */
async function userdelWhenIdle(a: EnsureUserArgs, ctx: StepContext): Promise<void> {
  const until = Date.now() + IDLE_WITHIN_MS;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    try {
      await shadowTool(ctx, a, 'userdel', [a.name], userBusy(a.name));
      return;
    } catch (error) {
      if (!(error instanceof UserBusyError) || Date.now() + wait > until) throw error;
      await sleep(wait, undefined, { signal: ctx.signal });
    }
  }
}

/**
 * Finishes a userdel killed half-way. It writes passwd first, then shadow,
 * group and gshadow: once the account is gone from passwd, running the undo
 * again does not call userdel, so what it had not written yet is removed
 * here, and only what is provably the step's — the account did not exist
 * before the step: its shadow line; its name in the member lists of the
 * groups of `groups` that did not list it before the step; and the gshadow
 * line of the private group useradd made, once that group's own line is gone.
 */
async function finishHalfRunUserdel(a: EnsureUserArgs, before: EnsureUserBefore, ctx: StepContext): Promise<void> {
  if (await lookupUser(a.name, lookupIn(a, ctx))) return;
  const added = new Set((a.groups ?? []).filter((g) => !before.groups.includes(g)));
  const withoutName = (line: string) => {
    const fields = line.split(':');
    if (fields.length < 4 || !added.has(fields[0]!)) return line;
    const members = fields[3]!.split(',');
    if (!members.includes(a.name)) return line;
    fields[3] = members.filter((m) => m !== a.name).join(',');
    return fields.join(':');
  };
  const privateGroupGone = a.group === undefined && !sameNameGroupExisted(a, before) && !(await lookupGroup(a.name, lookupIn(a, ctx)));
  const edit = (file: DbFile, change: (lines: string[]) => string[]) =>
    editDatabase(a.prefix, file, (lines) => {
      const next = change(lines);
      return next.length === lines.length && next.every((l, i) => l === lines[i]) ? undefined : next;
    }, ctx.signal);
  // A shadow or gshadow line of this name that was there before the step (an orphan) is not the step's: put back, never removed.
  if (before.shadowLine !== undefined) await restoreOrphanLine(a.prefix, 'shadow', a.name, before.shadowLine, ctx.signal);
  else await edit('shadow', (lines) => lines.filter((l) => keyOf(l) !== a.name));
  await edit('group', (lines) => lines.map(withoutName));
  const orphanKnown = before.gshadowLine !== undefined;
  await edit('gshadow', (lines) => lines.filter((l) => !(privateGroupGone && !orphanKnown && keyOf(l) === a.name)).map(withoutName));
  if (privateGroupGone && orphanKnown) await restoreOrphanLine(a.prefix, 'gshadow', a.name, before.gshadowLine ?? null, ctx.signal);
}

/** Puts back the kept same-named group if userdel deleted it: inserted only where no entry of that name is. */
async function putBackKeptGroup(a: EnsureUserArgs, ctx: StepContext): Promise<void> {
  if (!(await ctx.blobs.has(KEPT_GROUP))) return;
  const kept = decodeJournaled(t.array(CapturedLines), JSON.parse((await ctx.blobs.read(KEPT_GROUP)).toString('utf8')), `kept lines of group "${a.name}"`, { name: a.name });
  for (const c of kept) {
    // Only this group's own lines, and never a gid-0 group.
    if (c.key !== a.name || c.lines.some((l) => keyOf(l) !== a.name || (c.file === 'group' && !(parseId(l.split(':')[2]) > 0)))) {
      throw new UntrustedJournalError(`the kept lines of group "${a.name}" name another group`, { name: a.name });
    }
    if (c.file !== 'group' && c.file !== 'gshadow') continue;
    await editDatabase(a.prefix, c.file, (lines) => (lines.some((l) => keyOf(l) === a.name) ? undefined : applyCaptured(lines, [c])), ctx.signal);
  }
}

/** The private group useradd made for the user: only when the step's useradd made it. */
async function removePrivateGroup(a: EnsureUserArgs, before: EnsureUserBefore, gidHint: number | undefined, ctx: StepContext): Promise<void> {
  if (a.group !== undefined || sameNameGroupExisted(a, before)) return;
  const group = await lookupGroup(a.name, lookupIn(a, ctx));
  if (!group) return;
  assertRemovableCreated('group', { name: group.name, id: group.gid }, { prefix: a.prefix, protect: a.protect, system: a.system, id: a.uid });
  const subject = `group "${a.name}"`;
  if (gidHint !== undefined && group.gid !== gidHint) throw new UndoConflictError(subject, `gid ${gidHint} (the private group useradd made)`, `gid ${group.gid}`, { name: a.name });
  if (group.members.length > 0) throw new UndoConflictError(subject, 'no members (as useradd made it)', `members ${group.members.join(',')}`, { name: a.name });
  const primaryOf = (await allUsers(lookupIn(a, ctx))).find((u) => u.gid === group.gid);
  if (primaryOf) throw new UndoConflictError(subject, 'the primary group of no other account', `the primary group of "${primaryOf.name}"`, { name: a.name });
  await shadowTool(ctx, a, 'groupdel', [a.name]);
}

function homeStat(a: EnsureUserArgs, before: EnsureUserBefore): fs.Stats | undefined {
  if (before.homeExisted) return undefined;
  try {
    return fs.lstatSync(diskPath(a.prefix, before.home));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The home the step created (it did not exist before): removed when it is
 * a removable home (below its base, not a top-level directory, a real
 * directory, nobody else's home or parent of one) owned by the created
 * uid — or, when useradd was killed before any entry named the uid, by a
 * uid no account has.
 */
async function removeCreatedHome(a: EnsureUserArgs, before: EnsureUserBefore, uid: number | undefined, st: fs.Stats | undefined, ctx: StepContext): Promise<void> {
  if (!st) return;
  const base = createdHomeBase(a, before.home);
  checkHomePath(a.name, before.home, base);
  if (dirname(before.home) === '/') throw new UnsafeHomeError(a.name, before.home, 'is a top-level directory');
  let owner = uid;
  if (owner === undefined) {
    const holder = await lookupUid(st.uid, lookupIn(a, ctx));
    if (holder) throw new UndoConflictError(`home ${before.home}`, 'owned by the uid useradd gave the new user', `owned by uid ${st.uid} of "${holder.name}"`, { name: a.name });
    owner = st.uid;
  }
  assertRemovableCreated('user', { name: a.name, id: owner }, { prefix: a.prefix, protect: a.protect, system: a.system, id: owner });
  const path = checkRemovableHome({ name: a.name, home: before.home }, owner, await allUsers(lookupIn(a, ctx)), { prefix: a.prefix, homeBase: base });
  // Through directory descriptors: processes of the new user may still run and swap entries inside.
  removeTreeSafely(path);
  syncDirectory(dirname(path));
}
