import { localGroups, loginDefs, loginDefsNumber, type GroupEntry, type UserEntry } from './db.js';
import { ProtectedUserError } from './errors.js';
import { machineGroupGids } from './nss-groups.js';

/**
 * The protected-account rules, in one place: every route that can reach
 * userdel, usermod, groupdel or an edit of the database files asks here, in
 * `validate`, in `prepare`, and again inside `undo` and `commit` (a journal
 * is input, not truth).
 *
 * A protected user is root (name or uid 0), an account below UID_MIN or
 * above UID_MAX (system accounts, nobody), or a name on the step's deny
 * list. A protected group is root (name or gid 0), a group below GID_MIN or
 * above GID_MAX, or a name on the deny list. Their entries are never removed
 * or edited. The one exception: the undo of `ensureUser`/`ensureGroup` with
 * `system: true` may remove the system account the step itself created, and
 * only when its id lies in the allocation range of useradd -r / groupadd -r
 * (SYS_UID_MIN..., never the static accounts below it) and the live entry
 * carries what the step created.
 */

/**
 * Groups whose membership is power over the machine (root-equivalent, or
 * reading every log or the shadow file). Like the root group and the deny
 * list, no route of unwind adds a member to them or takes one out — in do or
 * in undo, so no journal can make recovery do it either. The same holds for
 * any other group with the gid one of them has on that machine or image (a
 * second name for it, like `sudo2:x:27:` beside `sudo:x:27:`): its members
 * get what the gid gets.
 *
 * @example
 * ```ts
 * PRIVILEGED_GROUPS.includes('sudo'); // true
 * ```
 */
export const PRIVILEGED_GROUPS: readonly string[] = ['root', 'sudo', 'wheel', 'admin', 'adm', 'shadow', 'disk', 'kmem', 'docker', 'lxd', 'libvirt'];

/**
 * The gids of the groups named in {@link PRIVILEGED_GROUPS}, each with the
 * privileged name that has it: as the prefix image's group file numbers
 * them, or without a prefix, as /etc/group and the machine's whole group
 * database do (`getent`: a `wheel` that only LDAP, SSSD or systemd's userdb
 * knows has a gid too, and a local group with it is a second name for it).
 * A group's members get what its gid gets (sudo, polkit and file modes
 * match the gid), so a second name for sudo's gid is sudo. Reads only.
 *
 * @example
 * ```ts
 * privilegedGids('/srv/root').get(27); // 'sudo'
 * ```
 */
export function privilegedGids(prefix: string | undefined): ReadonlyMap<number, string> {
  const gids = new Map<number, string>();
  for (const g of localGroups(prefix)) if (PRIVILEGED_GROUPS.includes(g.name) && Number.isInteger(g.gid) && !gids.has(g.gid)) gids.set(g.gid, g.name);
  if (prefix === undefined) for (const [gid, name] of machineGroupGids(PRIVILEGED_GROUPS)) if (!gids.has(gid)) gids.set(gid, name);
  return gids;
}

/**
 * Why a group's member list must not change (root group, gid 0, privileged,
 * a second name for a privileged group's gid, deny list), or undefined.
 * `privileged` is {@link privilegedGids} of the step's prefix, read here
 * when not given (pass it when judging many groups); a group without a gid
 * (a name alone, before any look-up) is judged by its name only.
 */
export function membershipProtection(group: { name: string; gid?: number | undefined }, args: ProtectionArgs, privileged?: ReadonlyMap<number, string>): string | undefined {
  if (group.gid === 0) return 'gid 0';
  if (group.gid !== undefined && !Number.isInteger(group.gid)) return 'an unparsable gid';
  if (PRIVILEGED_GROUPS.includes(group.name)) return 'a privileged group';
  if (args.protect?.includes(group.name)) return 'on the deny list';
  if (group.gid !== undefined) {
    const named = (privileged ?? privilegedGids(args.prefix)).get(group.gid);
    if (named !== undefined) return group.name === '' ? `gid ${group.gid}, the gid of the privileged group ${named}` : `an alias of the privileged group ${named} (same gid ${group.gid})`;
  }
  return undefined;
}

/** The id ranges of login.defs (shadow's defaults when unset). */
export interface IdRanges {
  min: number;
  max: number;
  systemMin: number;
}


/** UID_MIN, UID_MAX and SYS_UID_MIN of the (prefix's) login.defs. */
export function uidRanges(prefix: string | undefined): IdRanges {
  const d = loginDefs(prefix);
  return { min: loginDefsNumber(d.UID_MIN, 1000), max: loginDefsNumber(d.UID_MAX, 60000), systemMin: loginDefsNumber(d.SYS_UID_MIN, 101) };
}

/** GID_MIN, GID_MAX and SYS_GID_MIN of the (prefix's) login.defs. */
export function gidRanges(prefix: string | undefined): IdRanges {
  const d = loginDefs(prefix);
  return { min: loginDefsNumber(d.GID_MIN, 1000), max: loginDefsNumber(d.GID_MAX, 60000), systemMin: loginDefsNumber(d.SYS_GID_MIN, 101) };
}

/** What the rules need from a step's arguments. */
export interface ProtectionArgs {
  prefix?: string | undefined;
  protect?: string[] | undefined;
}

/** Why a user is protected, or undefined when it is not. */
export function userProtection(user: Pick<UserEntry, 'name' | 'uid'>, args: ProtectionArgs): string | undefined {
  if (user.name === 'root') return 'root';
  if (user.uid === 0) return 'uid 0';
  // NaN compares false with every bound: without this an unparsable uid would pass as an ordinary one.
  if (!Number.isInteger(user.uid)) return 'an unparsable uid';
  if (args.protect?.includes(user.name)) return 'on the deny list';
  const r = uidRanges(args.prefix);
  if (user.uid < r.min) return `system account: uid ${user.uid} is below UID_MIN ${r.min}`;
  if (user.uid > r.max) return `uid ${user.uid} is above UID_MAX ${r.max}`;
  return undefined;
}

/** Why a group is protected, or undefined when it is not. */
export function groupProtection(group: Pick<GroupEntry, 'name' | 'gid'>, args: ProtectionArgs): string | undefined {
  if (group.name === 'root') return 'the root group';
  if (group.gid === 0) return 'gid 0';
  if (!Number.isInteger(group.gid)) return 'an unparsable gid';
  if (args.protect?.includes(group.name)) return 'on the deny list';
  const r = gidRanges(args.prefix);
  if (group.gid < r.min) return `system group: gid ${group.gid} is below GID_MIN ${r.min}`;
  if (group.gid > r.max) return `gid ${group.gid} is above GID_MAX ${r.max}`;
  return undefined;
}

/** Refuses a protected name on its own (root, deny list): usable in `validate`, before any look-up. */
export function assertNameNotProtected(name: string, args: ProtectionArgs): void {
  if (name === 'root') throw new ProtectedUserError(name, 'root');
  if (args.protect?.includes(name)) throw new ProtectedUserError(name, 'on the deny list');
}

/** Refuses a protected user: its entry is never removed or changed. */
export function assertNotProtected(user: Pick<UserEntry, 'name' | 'uid'>, args: ProtectionArgs): void {
  const reason = userProtection(user, args);
  if (reason) throw new ProtectedUserError(user.name, reason, { uid: user.uid });
}

/** Refuses a protected group: its entry is never removed or changed. */
export function assertGroupNotProtected(group: Pick<GroupEntry, 'name' | 'gid'>, args: ProtectionArgs): void {
  const reason = groupProtection(group, args);
  if (reason) throw new ProtectedUserError(group.name, reason, { gid: group.gid, group: true });
}

/**
 * May the undo of a step that says it created this account remove it?
 * Never root, id 0, the static accounts below SYS_*_MIN, ids above *_MAX
 * (nobody, nogroup) or a deny-listed name; below *_MIN only for a `system`
 * step or the id the step was told to use. Throws ProtectedUserError.
 */
export function assertRemovableCreated(kind: 'user' | 'group', entry: { name: string; id: number }, args: ProtectionArgs & { system?: boolean | undefined; id?: number | undefined }): void {
  const r = kind === 'user' ? uidRanges(args.prefix) : gidRanges(args.prefix);
  const what = kind === 'user' ? 'uid' : 'gid';
  const refuse = (reason: string) => {
    throw new ProtectedUserError(entry.name, `${reason}; the undo of the step that says it created it does not remove it`, { [what]: entry.id, ...(kind === 'group' ? { group: true } : {}) });
  };
  if (entry.name === 'root' || entry.id === 0) refuse('root');
  if (!Number.isInteger(entry.id)) refuse(`an unparsable ${what}`);
  if (args.protect?.includes(entry.name)) refuse('on the deny list');
  if (entry.id < r.systemMin) refuse(`static system account: ${what} ${entry.id} is below SYS_${what.toUpperCase()}_MIN ${r.systemMin}`);
  if (entry.id > r.max) refuse(`${what} ${entry.id} is above ${what.toUpperCase()}_MAX ${r.max}`);
  if (entry.id < r.min && !args.system && args.id !== entry.id) refuse(`system account: ${what} ${entry.id} is below ${what.toUpperCase()}_MIN ${r.min} and the step was not a system one`);
}
