import * as t from 'io-ts';
import { UnwindError, VerificationError, type StepContext } from '@unwind/core';
import { CommonArgs, lookupIn, shadowTool } from './common.js';
import { keyOf, localGroups, lookupGroup, lookupUser, type UserEntry } from './db.js';
import { editDatabase } from './edit.js';
import { GROUP_MEMBERS, GSHADOW_ADMINS, GSHADOW_MEMBERS, listAt, withMember, withoutMember } from './fields.js';
import { ProtectedUserError } from './errors.js';
import { CapturedLines } from './lines.js';
import { validateCommon, validateGroupName, validateUserName } from './names.js';
import { assertNameNotProtected, membershipProtection, PRIVILEGED_GROUPS, privilegedGids } from './protect.js';

/** Arguments of the membership kinds. */
export const MembershipArgs = t.intersection([t.type({ user: t.string, group: t.string }), CommonArgs]);
/** See {@link MembershipArgs}. */
export type MembershipArgs = t.TypeOf<typeof MembershipArgs>;

/** Before-state of the membership kinds. `lines`: what older versions captured; read, never written back. */
export const MembershipBefore = t.intersection([t.type({ wasMember: t.boolean }), t.partial({ lines: t.array(CapturedLines) })]);

/**
 * The validate hook of the membership kinds: user and group names by
 * shadow's rules, the common fields; never root or a deny-listed user, never
 * the root group or a deny-listed group (unwind changes no membership of
 * theirs, in do or in undo).
 */
export function validateMembership(a: MembershipArgs): void {
  validateUserName(a.user);
  validateGroupName(a.group);
  validateCommon(a);
  assertNameNotProtected(a.user, a);
  assertGroupNameNotProtected(a.group, a);
}

/** The root group, privileged groups (sudo, wheel, adm, …) and deny-listed groups: no membership of theirs is ever changed. */
export function assertGroupNameNotProtected(group: string, a: { protect?: string[] | undefined }): void {
  const reason = membershipProtection({ name: group }, a);
  if (reason) throw new ProtectedUserError(group, `${reason}: unwind changes none of its members`, { group: true });
}

/** Names of the groups whose member lists unwind never edits: gid 0, privileged (and other names for their gids) and deny-listed groups. */
export function lockedGroups(a: { prefix?: string | undefined; protect?: string[] | undefined }): Set<string> {
  const names = new Set([...PRIVILEGED_GROUPS, ...(a.protect ?? [])]);
  const privileged = privilegedGids(a.prefix);
  for (const g of localGroups(a.prefix)) if (membershipProtection(g, a, privileged)) names.add(g.name);
  return names;
}

/**
 * The same rules on the live entries, in prepare, do and undo: uid 0, and a
 * group whose gid is 0 or a privileged group's (`wheel2` with gid 0,
 * `sudo2` with sudo's gid), whatever the name says, are refused too.
 */
export async function assertMembershipChangeable(a: MembershipArgs, ctx: StepContext): Promise<void> {
  validateMembership(a);
  const user = await lookupUser(a.user, lookupIn(a, ctx));
  if (user?.uid === 0) throw new ProtectedUserError(a.user, 'uid 0', { uid: 0 });
  const group = await lookupGroup(a.group, lookupIn(a, ctx));
  const reason = group ? membershipProtection(group, a) : undefined;
  if (group && reason) throw new ProtectedUserError(a.group, `${reason}: unwind changes none of its members`, { gid: group.gid, group: true });
}

/** Whether the group's entry lists the user (false when the group is missing). */
export async function isMember(a: MembershipArgs, ctx: StepContext): Promise<boolean> {
  return (await lookupGroup(a.group, lookupIn(a, ctx)))?.members.includes(a.user) ?? false;
}

/** The user and group both exist, or a clear non-retryable error. */
export async function requireBoth(a: MembershipArgs, ctx: StepContext): Promise<UserEntry> {
  const user = await lookupUser(a.user, lookupIn(a, ctx));
  if (!user) throw new UnwindError('USER_NOT_FOUND', `user "${a.user}" does not exist${a.prefix ? ` in ${a.prefix}` : ''}`, { context: { user: a.user } });
  if (!(await lookupGroup(a.group, lookupIn(a, ctx)))) throw new UnwindError('GROUP_NOT_FOUND', `group "${a.group}" does not exist${a.prefix ? ` in ${a.prefix}` : ''}`, { context: { group: a.group } });
  return user;
}

/** `usermod -a -G GROUP USER` through the step's command runner, after the protection checks. */
export async function addMember(a: MembershipArgs, ctx: StepContext): Promise<void> {
  await assertMembershipChangeable(a, ctx);
  await shadowTool(ctx, a, 'usermod', ['-a', '-G', a.group, a.user]);
}

/** `usermod -r -G GROUP USER` through the step's command runner, after the protection checks. */
export async function removeMember(a: MembershipArgs, ctx: StepContext): Promise<void> {
  await assertMembershipChangeable(a, ctx);
  await shadowTool(ctx, a, 'usermod', ['-r', '-G', a.group, a.user]);
}

/**
 * Takes the user out of the group's gshadow member list when group no
 * longer lists it: what a usermod -r killed after writing group, before
 * gshadow, leaves (running the undo again finds no membership in group and
 * runs no usermod).
 */
export async function dropLeftGshadowMember(a: MembershipArgs, ctx: StepContext): Promise<void> {
  if (await isMember(a, ctx)) return;
  await editDatabase(a.prefix, 'gshadow', (lines) => {
    const line = lines.find((l) => keyOf(l) === a.group);
    if (line === undefined || !listAt(line, GSHADOW_MEMBERS).includes(a.user)) return undefined;
    const next = withoutMember(line, GSHADOW_MEMBERS, a.user);
    return lines.map((l) => (l === line ? next : l));
  }, ctx.signal);
}

/**
 * Moves the user back to the place it had in the group's member lists
 * (group members; gshadow administrators and members), as `oldLines` (the
 * group's lines captured at prepare) show: `usermod -a` appends at the end.
 * Only this user's name moves (or comes back where it was missing);
 * nothing else of the lines changes.
 */
export async function placeMember(a: MembershipArgs, oldLines: CapturedLines[] | undefined, signal: AbortSignal): Promise<void> {
  for (const c of oldLines ?? []) {
    const old = c.lines[0];
    if (c.key !== a.group || old === undefined || (c.file !== 'group' && c.file !== 'gshadow')) continue;
    const fields = c.file === 'group' ? [GROUP_MEMBERS] : [GSHADOW_ADMINS, GSHADOW_MEMBERS];
    await editDatabase(a.prefix, c.file, (lines) => {
      const line = lines.find((l) => keyOf(l) === a.group);
      if (line === undefined) return undefined;
      let next = line;
      for (const index of fields) {
        const want = listAt(old, index).indexOf(a.user);
        const now = listAt(next, index).indexOf(a.user);
        if (want >= 0 && now >= 0 && want !== now) next = withMember(withoutMember(next, index, a.user), index, a.user, want);
        // Not there at all: a usermod killed after group, before gshadow; or a list usermod -a -G never refills (administrators).
        if (want >= 0 && now < 0) next = withMember(next, index, a.user, want);
      }
      return next === line ? undefined : lines.map((l) => (l === line ? next : l));
    }, signal);
  }
}

/** Throws VerificationError unless the user's membership of the group is `member`. */
export async function expectMember(a: MembershipArgs, ctx: StepContext, member: boolean): Promise<void> {
  if ((await isMember(a, ctx)) !== member) {
    throw new VerificationError(`user "${a.user}" is ${member ? 'not' : 'still'} a member of group "${a.group}"`, { user: a.user, group: a.group });
  }
}
