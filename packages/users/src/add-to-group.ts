import { tidyKilledTool } from './edit.js';
import { defineStep } from '@unwind/core';
import { addMember, assertMembershipChangeable, dropLeftGshadowMember, expectMember, isMember, MembershipArgs, MembershipBefore, removeMember, requireBoth, validateMembership } from './membership.js';
import { awaitUnlockedDatabases } from './unlocked.js';

/**
 * Adds a user to a group's supplementary members (`usermod -a -G`). Never
 * for root, the root group, a privileged group (or another name for its
 * gid), or deny-listed names. Undo takes out only this
 * user from only this group, and only when the step added it: the rest of
 * the group's entry (other members, an admin's edits) is left as it is.
 *
 * @example
 * ```ts
 * tx.add(addToGroup({ user: 'app', group: 'managed' }));
 * ```
 */
export const addToGroup = defineStep({
  type: 'users.addToGroup',
  package: '@unwind/users',
  args: MembershipArgs,
  before: MembershipBefore,
  validate: validateMembership,
  describe: (a) => `add user ${a.user} to group ${a.group}${a.prefix ? ` in ${a.prefix}` : ''}`,
  prepare: async (a, ctx) => {
    // Another program's lock on the databases: refused now, before anything, not after the tools' 15 s waits and do's retries.
    await awaitUnlockedDatabases(a.prefix, ctx.signal);
    await requireBoth(a, ctx);
    // Judged by the live entry: a second name for sudo's gid is sudo.
    await assertMembershipChangeable(a, ctx);
    return { wasMember: await isMember(a, ctx) };
  },
  do: async (a, _before, ctx) => {
    if (!(await isMember(a, ctx))) await addMember(a, ctx);
  },
  verify: (a, _b, _r, ctx) => expectMember(a, ctx, true),
  // Not a member any more: already undone, or an admin took it out; either way what undo wants.
  undo: async (a, before, _after, ctx) => {
    if (before.wasMember) return;
    if (await isMember(a, ctx)) await removeMember(a, ctx);
    await dropLeftGshadowMember(a, ctx);
    await tidyKilledTool(a.prefix, ctx.signal);
  },
  verifyUndo: async (a, before, ctx) => {
    if (!before.wasMember) await expectMember(a, ctx, false);
  },
  wouldChange: async (a, ctx) => !(await isMember(a, ctx)),
});
