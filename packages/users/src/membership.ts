import * as t from 'io-ts';
import { UnwindError, VerificationError, type StepContext } from '@unwind/core';
import { CommonArgs, lookupIn, shadowTool } from './common.js';
import { lookupGroup, lookupUser, type UserEntry } from './db.js';
import { CapturedLines } from './lines.js';
import { validateCommon, validateGroupName, validateUserName } from './names.js';

/** Arguments of the membership kinds. */
export const MembershipArgs = t.intersection([t.type({ user: t.string, group: t.string }), CommonArgs]);
/** See {@link MembershipArgs}. */
export type MembershipArgs = t.TypeOf<typeof MembershipArgs>;

/** Before-state of the membership kinds. */
export const MembershipBefore = t.type({ wasMember: t.boolean, lines: t.array(CapturedLines) });

/** The validate hook of the membership kinds: user and group names by shadow's rules, the common fields. */
export function validateMembership(a: MembershipArgs): void {
  validateUserName(a.user);
  validateGroupName(a.group);
  validateCommon(a);
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

/** `usermod -a -G GROUP USER` through the step's command runner. */
export const addMember = (a: MembershipArgs, ctx: StepContext) => shadowTool(ctx, a, 'usermod', ['-a', '-G', a.group, a.user]);
/** `usermod -r -G GROUP USER` through the step's command runner. */
export const removeMember = (a: MembershipArgs, ctx: StepContext) => shadowTool(ctx, a, 'usermod', ['-r', '-G', a.group, a.user]);

/** Throws VerificationError unless the user's membership of the group is `member`. */
export async function expectMember(a: MembershipArgs, ctx: StepContext, member: boolean): Promise<void> {
  if ((await isMember(a, ctx)) !== member) {
    throw new VerificationError(`user "${a.user}" is ${member ? 'not' : 'still'} a member of group "${a.group}"`, { user: a.user, group: a.group });
  }
}
