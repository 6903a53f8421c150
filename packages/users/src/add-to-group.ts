import { defineStep } from '@unwind/core';
import { addMember, expectMember, isMember, MembershipArgs, MembershipBefore, removeMember, requireBoth, validateMembership } from './membership.js';
import { captureLines, restoreLines, verifyLines } from './lines.js';

/**
 * Adds a user to a group's supplementary members (`usermod -a -G`). Undo
 * takes the user out again when it was not a member, and puts the group and
 * gshadow lines back exactly.
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
    await requireBoth(a, ctx);
    return { wasMember: await isMember(a, ctx), lines: captureLines(a.prefix, { group: [a.group], gshadow: [a.group] }) };
  },
  do: async (a, _before, ctx) => {
    if (!(await isMember(a, ctx))) await addMember(a, ctx);
  },
  verify: (a, _b, _r, ctx) => expectMember(a, ctx, true),
  undo: async (a, before, _after, ctx) => {
    if (!before.wasMember && (await isMember(a, ctx))) await removeMember(a, ctx);
    await restoreLines(a.prefix, before.lines, ctx.signal);
  },
  verifyUndo: async (a, before) => verifyLines(a.prefix, before.lines),
  wouldChange: async (a, ctx) => !(await isMember(a, ctx)),
});
