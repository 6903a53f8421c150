/**
 * @unwind/users — users and groups through the shadow tools, as undoable
 * steps. Every undo is field-level and compare-and-swap: it changes back only the fields
 * and memberships its step changed, and only while they still hold what the
 * step left. Protected accounts are never removed or changed.
 *
 * @packageDocumentation
 * @module @unwind/users
 */
import { addToGroup } from './add-to-group.js';
import { ensureGroup } from './ensure-group.js';
import { ensureUser } from './ensure-user.js';
import { removeFromGroup } from './remove-from-group.js';
import { removeUser } from './remove-user.js';

export { addToGroup, ensureGroup, ensureUser, removeFromGroup, removeUser };
export { lookupUser, lookupUid, lookupGroup, lookupGid, groupMembers, supplementaryGroups, loginDefs, loginDefsNumber, uidMin } from './db.js';
export type { UserEntry, GroupEntry, LookupOptions } from './db.js';
export { ImmovableHomeError, LockedMembershipError, ProtectedUserError, UserBusyError, UserConflictError, ShadowLockError, UnsafeHomeError, UnsafeLingerFileError, UnsafeLockFileError, PrefixEscapeError } from './errors.js';
export { PRIVILEGED_GROUPS } from './protect.js';
export { homeBase } from './home.js';
export { validateUserName, validateGroupName, NAME_PATTERN, NAME_MAX } from './names.js';
export { stopUserProcesses, processesOf } from './processes.js';
export type { StopOptions } from './processes.js';

/**
 * Every step kind of @unwind/users, for `recover({ kinds })`.
 *
 * @example
 * ```ts
 * await recover({ root: '/var/lib/app/unwind', kinds: [...usersKinds, ...filesKinds] });
 * ```
 */
export const kinds = [ensureUser, removeUser, ensureGroup, addToGroup, removeFromGroup];
