import { UndoConflictError, VerificationError, type StepContext } from '@unwind/core';
import { lookupIn, shadowTool } from './common.js';
import { lookupGid, lookupGroup, lookupUser, supplementaryGroups, type UserEntry } from './db.js';
import { ProtectedUserError } from './errors.js';
import type { EnsureUserAfter, EnsureUserArgs } from './ensure-user.js';
import { assertGroupNameNotProtected } from './membership.js';
import { assertNotProtected, membershipProtection, privilegedGids } from './protect.js';

/** What the step changed on an existing account: field, old value, the value the step set, usermod flag. */
interface FieldChange {
  what: string;
  old: string | number;
  set: string | number;
  flag: string;
}

async function changedFields(a: EnsureUserArgs, old: UserEntry, after: EnsureUserAfter | undefined, ctx: StepContext): Promise<FieldChange[]> {
  const out: FieldChange[] = [];
  const add = (what: string, oldValue: string | number, set: string | number | undefined, flag: string) => {
    if (set !== undefined && set !== oldValue) out.push({ what, old: oldValue, set, flag });
  };
  add('home', old.home, a.home, '-d');
  add('shell', old.shell, a.shell, '-s');
  add('comment', old.comment, a.comment, '-c');
  if (a.group !== undefined) add('primary gid', old.gid, after?.gid ?? (await lookupGroup(a.group, lookupIn(a, ctx)))?.gid, '-g');
  return out;
}

function membershipChanges(a: EnsureUserArgs, oldGroups: string[]): { added: string[]; removed: string[] } {
  const wanted = [...new Set(a.groups ?? [])];
  return { added: wanted.filter((g) => !oldGroups.includes(g)), removed: a.appendGroups === false ? oldGroups.filter((g) => !wanted.includes(g)) : [] };
}

const valueOf = (user: UserEntry, what: string): string | number => (what === 'home' ? user.home : what === 'shell' ? user.shell : what === 'comment' ? user.comment : user.gid);

/**
 * The undo of an ensureUser that changed an existing account: sets back
 * only the fields and memberships the step changed. A field still holding
 * its old value is left (already undone); one holding what the step set is
 * set back; one holding anything else was changed by someone else since:
 * UndoConflictError naming the account and both values, and nothing is
 * touched. The password, aging and every field the step did not change are
 * never written.
 */
export async function revertChangedFields(a: EnsureUserArgs, old: UserEntry, oldGroups: string[], after: EnsureUserAfter | undefined, ctx: StepContext): Promise<void> {
  const subject = `user "${a.name}"`;
  const user = await lookupUser(a.name, lookupIn(a, ctx));
  if (!user) throw new UndoConflictError(subject, 'the account this step changed', 'no such account', { name: a.name });
  if (user.uid !== old.uid) throw new UndoConflictError(subject, `uid ${old.uid}`, `uid ${user.uid}`, { name: a.name });
  const opts: string[] = [];
  for (const change of await changedFields(a, old, after, ctx)) {
    const now = valueOf(user, change.what);
    if (now === change.old) continue;
    if (now !== change.set) throw new UndoConflictError(subject, `${change.what} ${JSON.stringify(change.set)} (as this step left it)`, `${change.what} ${JSON.stringify(now)}`, { name: a.name, field: change.what });
    if (change.what === 'primary gid') {
      // prepare refuses moving an account off such a group, so only a forged journal asks for it.
      const group = await lookupGid(Number(change.old), lookupIn(a, ctx));
      const reason = membershipProtection(group ?? { name: '', gid: Number(change.old) }, a);
      if (reason) throw new ProtectedUserError(group?.name ?? `gid ${change.old}`, `${reason}: unwind makes it no account's primary group`, { gid: change.old, group: true, user: a.name });
    }
    opts.push(change.flag, String(change.old));
  }
  const current = supplementaryGroups(a.name, a.prefix);
  const { added, removed } = membershipChanges(a, oldGroups);
  const takeOut = added.filter((g) => current.includes(g));
  const putBack = removed.filter((g) => !current.includes(g));
  for (const g of putBack) {
    if (!(await lookupGroup(g, lookupIn(a, ctx)))) throw new UndoConflictError(`group "${g}"`, `the group "${a.name}" was taken out of`, 'no such group', { name: a.name, group: g });
  }
  if (opts.length === 0 && takeOut.length === 0 && putBack.length === 0) return;
  assertNotProtected(user, a);
  const privileged = privilegedGids(a.prefix);
  for (const g of [...takeOut, ...putBack]) {
    assertGroupNameNotProtected(g, a);
    // By the live entry too: a second name for gid 0 or for sudo's gid is that group.
    const entry = await lookupGroup(g, lookupIn(a, ctx));
    const reason = entry ? membershipProtection(entry, a, privileged) : undefined;
    if (entry && reason) throw new ProtectedUserError(g, `${reason}: unwind changes none of its members`, { gid: entry.gid, group: true, user: a.name });
  }
  // One usermod for everything, so a retried undo finds either nothing done or everything done.
  if (takeOut.length || putBack.length) opts.push('-G', [...current.filter((g) => !takeOut.includes(g)), ...putBack].join(','));
  await shadowTool(ctx, a, 'usermod', [...opts, a.name]);
}

/** The verifyUndo of an ensureUser on an existing account: each changed field and membership is back. */
export async function verifyFieldsBack(a: EnsureUserArgs, old: UserEntry, oldGroups: string[], ctx: StepContext): Promise<void> {
  const user = await lookupUser(a.name, lookupIn(a, ctx));
  if (!user) throw new VerificationError(`user "${a.name}" is gone`, { name: a.name });
  for (const change of await changedFields(a, old, undefined, ctx)) {
    if (valueOf(user, change.what) !== change.old) throw new VerificationError(`user "${a.name}": ${change.what} is not back to ${JSON.stringify(change.old)}`, { name: a.name, field: change.what });
  }
  const current = supplementaryGroups(a.name, a.prefix);
  const { added, removed } = membershipChanges(a, oldGroups);
  const wrong = [...added.filter((g) => current.includes(g)), ...removed.filter((g) => !current.includes(g))];
  if (wrong.length) throw new VerificationError(`user "${a.name}": memberships of ${wrong.join(', ')} are not back`, { name: a.name, groups: wrong });
}
