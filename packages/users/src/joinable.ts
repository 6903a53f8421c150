import type { StepContext } from '@unwind/core';
import { lookupIn, type CommonArgs } from './common.js';
import { lookupGroup, type UserEntry } from './db.js';
import { ProtectedUserError } from './errors.js';
import { membershipProtection } from './protect.js';

/**
 * The rule of addToGroup for ensureUser: no group the account would join —
 * its primary group (`-g`, or the group named like a new user that useradd
 * would give it) or a supplementary one (`-G`) — may be gid 0, privileged
 * or deny-listed, judged by its live entry (a second name for gid 0, like
 * `wheel2`, is the root group). A primary group the account already has is
 * not joined. Throws ProtectedUserError; reads only.
 */
export async function assertGroupsJoinable(
  a: CommonArgs & { name: string; group?: string | undefined; groups?: string[] | undefined },
  user: UserEntry | undefined,
  ctx: StepContext,
): Promise<void> {
  const primary = a.group ?? (user ? undefined : a.name);
  for (const name of new Set([...(primary !== undefined ? [primary] : []), ...(a.groups ?? [])])) {
    const group = await lookupGroup(name, lookupIn(a, ctx));
    // A missing group: the tool refuses it, or (the user's own name) creates a fresh one.
    if (!group || (name === primary && !a.groups?.includes(name) && user?.gid === group.gid)) continue;
    const reason = membershipProtection(group, a);
    if (reason) throw new ProtectedUserError(name, `${reason}: unwind adds no member to it`, { gid: group.gid, group: true, user: a.name });
  }
}
