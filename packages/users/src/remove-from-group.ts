import { tidyKilledTool } from './edit.js';
import { defineStep, UndoConflictError, type StepContext } from '@unwind/core';
import { captureLines } from './lines.js';
import { assertNotProtected } from './protect.js';
import { lookupIn } from './common.js';
import { lookupGroup, lookupUser } from './db.js';
import { addMember, assertMembershipChangeable, expectMember, isMember, MembershipArgs, MembershipBefore, placeMember, removeMember, requireBoth, validateMembership } from './membership.js';
import { awaitUnlockedDatabases } from './unlocked.js';

/**
 * Takes a user out of a group's supplementary members (`usermod -r -G`).
 * Refused for protected users (root, below UID_MIN, deny list) and the root
 * group. Undo puts only this user back into only this group when the step
 * took it out; a group that is gone by then is a conflict (UndoConflictError).
 *
 * @example
 * ```ts
 * tx.add(removeFromGroup({ user: 'app', group: 'managed' }));
 * ```
 */
export const removeFromGroup = defineStep({
  type: 'users.removeFromGroup',
  package: '@unwind/users',
  args: MembershipArgs,
  before: MembershipBefore,
  validate: validateMembership,
  describe: (a) => `remove user ${a.user} from group ${a.group}${a.prefix ? ` in ${a.prefix}` : ''}`,
  prepare: async (a, ctx) => {
    // Another program's lock on the databases: refused now, before anything, not after the tools' 15 s waits and do's retries.
    await awaitUnlockedDatabases(a.prefix, ctx.signal);
    assertNotProtected(await requireBoth(a, ctx), a);
    // Judged by the live entry: a second name for sudo's gid is sudo.
    await assertMembershipChangeable(a, ctx);
    // The group's lines, only to put the user back at its old place in the member lists.
    return { wasMember: await isMember(a, ctx), lines: captureLines(a.prefix, { group: [a.group], gshadow: [a.group] }) };
  },
  do: async (a, _before, ctx) => {
    const user = await lookupUser(a.user, lookupIn(a, ctx));
    if (user) assertNotProtected(user, a);
    if (await isMember(a, ctx)) await removeMember(a, ctx);
  },
  verify: (a, _b, _r, ctx) => expectMember(a, ctx, false),
  undo: async (a, before, _after, ctx) => {
    if (!before.wasMember) return;
    if (!(await isMember(a, ctx))) await putBack(a, ctx);
    await placeMember(a, before.lines, ctx.signal);
    await tidyKilledTool(a.prefix, ctx.signal);
  },
  verifyUndo: async (a, before, ctx) => {
    if (before.wasMember) await expectMember(a, ctx, true);
  },
  wouldChange: async (a, ctx) => isMember(a, ctx),
});

/** `usermod -a -G`, once the account and the group are still there and the user is not protected. */
async function putBack(a: MembershipArgs, ctx: StepContext): Promise<void> {
  const user = await lookupUser(a.user, lookupIn(a, ctx));
  if (!user) throw new UndoConflictError(`user "${a.user}"`, 'the account this step took out of a group', 'no such account', { user: a.user, group: a.group });
  if (!(await lookupGroup(a.group, lookupIn(a, ctx)))) throw new UndoConflictError(`group "${a.group}"`, `the group "${a.user}" was taken out of`, 'no such group', { user: a.user, group: a.group });
  assertNotProtected(user, a); // a protected user is never taken out, so never put back on a journal's say-so
  await addMember(a, ctx);
}
