import { defineStep } from '@unwind/core';
import { assertNameNotProtected, assertNotProtected } from './common.js';
import { addMember, expectMember, isMember, MembershipArgs, MembershipBefore, removeMember, requireBoth, validateMembership } from './membership.js';
import { captureLines, restoreLines, verifyLines } from './lines.js';

/**
 * Takes a user out of a group's supplementary members (`usermod -r -G`).
 * Refused for protected users (root, below UID_MIN, deny list). Undo puts
 * the user back, at the same place in the member list.
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
  validate: (a) => {
    validateMembership(a);
    assertNameNotProtected(a.user, a);
  },
  describe: (a) => `remove user ${a.user} from group ${a.group}${a.prefix ? ` in ${a.prefix}` : ''}`,
  prepare: async (a, ctx) => {
    assertNotProtected(await requireBoth(a, ctx), a);
    return { wasMember: await isMember(a, ctx), lines: captureLines(a.prefix, { group: [a.group], gshadow: [a.group] }) };
  },
  do: async (a, _before, ctx) => {
    if (await isMember(a, ctx)) await removeMember(a, ctx);
  },
  verify: (a, _b, _r, ctx) => expectMember(a, ctx, false),
  undo: async (a, before, _after, ctx) => {
    if (before.wasMember && !(await isMember(a, ctx))) await addMember(a, ctx);
    await restoreLines(a.prefix, before.lines, ctx.signal);
  },
  verifyUndo: async (a, before) => verifyLines(a.prefix, before.lines),
  wouldChange: async (a, ctx) => isMember(a, ctx),
});
