import type { StepContext } from '@unwind/core';
import { lookupIn, type CommonArgs } from './common.js';
import { localGroups, lookupGid, lookupGroup, type UserEntry } from './db.js';
import { LockedMembershipError, ProtectedUserError } from './errors.js';
import { membershipProtection, privilegedGids } from './protect.js';

/**
 * The rule of addToGroup for ensureUser: no group the account would join —
 * its primary group (`-g`, or the group named like a new user that useradd
 * would give it) or a supplementary one (`-G`) — may be gid 0, privileged
 * or deny-listed, judged by its live entry (a second name for gid 0, like
 * `wheel2`, is the root group; one for sudo's gid, like `sudo2`, is sudo). A primary group the account already has is
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

/**
 * The other half of that rule, for an existing account: no group whose
 * members unwind never changes (gid 0, privileged, deny-listed; judged by
 * the live entry, as above) may lose it — not a supplementary group that
 * `appendGroups: false` would leave out of the `-G` list, and not the
 * primary group that `-g` would move it away from. Its undo could not put
 * the membership back. Throws LockedMembershipError naming every such group;
 * reads only.
 */
export async function assertNoLockedGroupLeft(
  a: CommonArgs & { group?: string | undefined; groups?: string[] | undefined; appendGroups?: boolean | undefined },
  user: UserEntry,
  ctx: StepContext,
): Promise<void> {
  const leaving: Array<{ name: string; reason: string; primary: boolean }> = [];
  if (a.group !== undefined) {
    const target = await lookupGroup(a.group, lookupIn(a, ctx));
    if (target && target.gid !== user.gid) {
      const primary = await lookupGid(user.gid, lookupIn(a, ctx));
      const reason = membershipProtection(primary ?? { name: '', gid: user.gid }, a);
      if (reason) leaving.push({ name: primary?.name ?? `gid ${user.gid}`, reason, primary: true });
    }
  }
  if (a.appendGroups === false && a.groups !== undefined) {
    const wanted = new Set(a.groups);
    const privileged = privilegedGids(a.prefix);
    for (const g of localGroups(a.prefix)) {
      if (!g.members.includes(user.name) || wanted.has(g.name)) continue;
      const reason = membershipProtection(g, a, privileged);
      if (reason) leaving.push({ name: g.name, reason, primary: false });
    }
  }
  if (leaving.length) throw new LockedMembershipError(user.name, leaving);
}

/**
 * Why gid `gid` is a group whose members unwind never changes — gid 0, or a
 * local group of that gid that is privileged or deny-listed — or undefined.
 * Synchronous (the local group file only), for recovery's journal checks: a
 * journal must not make an undo give an account such a primary group.
 */
export function lockedPrimaryGid(gid: number, a: CommonArgs): string | undefined {
  const privileged = privilegedGids(a.prefix);
  const own = membershipProtection({ name: '', gid }, a, privileged);
  if (own) return own;
  for (const g of localGroups(a.prefix)) {
    if (g.gid !== gid) continue;
    const reason = membershipProtection(g, a, privileged);
    if (reason) return `${g.name}: ${reason}`;
  }
  return undefined;
}
