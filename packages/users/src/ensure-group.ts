import { checkJournaledOrphanLine, editDatabase, restoreOrphanLine, tidyKilledTool } from './edit.js';
import * as t from 'io-ts';
import { defineStep, UndoConflictError, UntrustedJournalError, VerificationError } from '@unwind/core';
import { CommonArgs, lookupIn, shadowTool } from './common.js';
import { dbPath, keyOf, localUsers, lookupGroup, readLines } from './db.js';
import { UserConflictError } from './errors.js';
import { CapturedLines } from './lines.js';
import { validateCommon, validateGroupName, validateId } from './names.js';
import { assertRemovableCreated } from './protect.js';
import { awaitUnlockedDatabases } from './unlocked.js';

const Args = t.intersection([t.type({ name: t.string }), t.partial({ gid: t.number, system: t.boolean }), CommonArgs]);
type Args = t.TypeOf<typeof Args>;
/** `lines`: what older versions captured; read, never written back. */
const Before = t.intersection([
  t.type({ existed: t.boolean }),
  /** `gshadowLine`: the gshadow line of this name found without a group line (an orphan; null: none), put back by the undo. Older versions recorded neither. */
  t.partial({ lines: t.array(CapturedLines), gshadowLine: t.union([t.string, t.null]) }),
]);
const After = t.type({ gid: t.number, created: t.boolean });

/**
 * The group this step created, if it is still what the step left: the gid
 * it recorded (or was told), no members, nobody's primary group, and not a
 * protected group. Anything else is someone else's group now, or a journal
 * claiming a group it did not create: UndoConflictError or
 * ProtectedUserError, and nothing is touched.
 */
async function createdGroup(a: Args, after: t.TypeOf<typeof After> | undefined, ctx: Parameters<typeof lookupIn>[1]) {
  const group = await lookupGroup(a.name, lookupIn(a, ctx));
  if (!group) return undefined;
  assertRemovableCreated('group', { name: group.name, id: group.gid }, { prefix: a.prefix, protect: a.protect, system: a.system, id: a.gid });
  const expectedGid = after?.gid ?? a.gid;
  if (expectedGid !== undefined && group.gid !== expectedGid) throw new UndoConflictError(`group "${a.name}"`, `gid ${expectedGid} (created by this step)`, `gid ${group.gid}`, { name: a.name });
  if (group.members.length > 0) throw new UndoConflictError(`group "${a.name}"`, 'no members (as created)', `members ${group.members.join(',')}`, { name: a.name });
  const primaryOf = localUsers(a.prefix).find((u) => u.gid === group.gid);
  if (primaryOf) throw new UndoConflictError(`group "${a.name}"`, 'the primary group of no user (as created)', `the primary group of "${primaryOf.name}"`, { name: a.name });
  return group;
}

/**
 * A groupdel killed after writing group, before gshadow, leaves the
 * group's gshadow line; running the undo again finds no group and runs no
 * groupdel. The line of a group this step created whose group line is gone
 * is the step's: removed.
 */
async function dropLeftGshadowLine(a: Args, before: t.TypeOf<typeof Before>, signal: AbortSignal): Promise<void> {
  if (readLines(dbPath(a.prefix, 'group')).some((l) => keyOf(l) === a.name)) return;
  // An orphaned gshadow line that was there before the step is not the step's: it is what is put back.
  if (before.gshadowLine !== undefined) return restoreOrphanLine(a.prefix, 'gshadow', a.name, before.gshadowLine, signal);
  await editDatabase(a.prefix, 'gshadow', (lines) => (lines.some((l) => keyOf(l) === a.name) ? lines.filter((l) => keyOf(l) !== a.name) : undefined), signal);
}

/**
 * Makes sure a group exists (with `gid` when given). It never changes an
 * existing group. Undo deletes a group it created — only when the group is
 * still what it created (same gid, no members, nobody's primary group) and
 * not protected — and leaves everything else alone. A group that exists
 * with another gid is a UserConflictError: renumbering would orphan files.
 *
 * @example
 * ```ts
 * tx.add(ensureGroup({ name: 'managed', system: true }));
 * ```
 */
export const ensureGroup = defineStep({
  type: 'users.ensureGroup',
  package: '@unwind/users',
  args: Args,
  before: Before,
  after: After,
  validate: (a) => {
    validateGroupName(a.name);
    validateId(a.gid, 'gid');
    validateCommon(a);
  },
  describe: (a) => `ensure group ${a.name}${a.gid !== undefined ? ` (gid ${a.gid})` : ''}${a.prefix ? ` in ${a.prefix}` : ''}`,
  prepare: async (a, ctx) => {
    // Another program's lock on the databases: refused now, before anything, not after the tools' 15 s waits and do's retries.
    await awaitUnlockedDatabases(a.prefix, ctx.signal);
    const group = await lookupGroup(a.name, lookupIn(a, ctx));
    if (group && a.gid !== undefined && group.gid !== a.gid) {
      throw new UserConflictError(`group "${a.name}" exists with gid ${group.gid}, not ${a.gid}; unwind does not renumber groups`, { name: a.name, gid: group.gid, wanted: a.gid });
    }
    if (group) return { existed: true };
    return { existed: false, gshadowLine: readLines(dbPath(a.prefix, 'gshadow')).find((l) => keyOf(l) === a.name) ?? null };
  },
  do: async (a, before, ctx) => {
    const existing = await lookupGroup(a.name, lookupIn(a, ctx));
    if (existing) return { gid: existing.gid, created: !before.existed };
    await shadowTool(ctx, a, 'groupadd', [...(a.system ? ['-r'] : []), ...(a.gid !== undefined ? ['-g', String(a.gid)] : []), a.name]);
    const created = await lookupGroup(a.name, lookupIn(a, ctx));
    if (!created) throw new VerificationError(`groupadd succeeded but group "${a.name}" is not there`, { name: a.name });
    return { gid: created.gid, created: true };
  },
  verify: async (a, _b, after, ctx) => {
    const group = await lookupGroup(a.name, lookupIn(a, ctx));
    if (!group) throw new VerificationError(`group "${a.name}" does not exist`, { name: a.name });
    if (group.gid !== after.gid) throw new VerificationError(`group "${a.name}" has gid ${group.gid}, expected ${after.gid}`, { name: a.name });
  },
  validateJournaled: (_a, before, after) => {
    // A step that found the group never created it.
    if (before.existed && after?.created) throw new UntrustedJournalError('users.ensureGroup: the journal says the group both existed before and was created by the step', {});
    checkJournaledOrphanLine(before.gshadowLine, _a.name, (why) => new UntrustedJournalError(`users.ensureGroup: ${why}`, {}));
  },
  undo: async (a, before, after, ctx) => {
    if (before.existed) return; // it changed nothing
    const group = await createdGroup(a, after, ctx);
    if (group) await shadowTool(ctx, a, 'groupdel', [a.name]);
    await dropLeftGshadowLine(a, before, ctx.signal);
    await tidyKilledTool(a.prefix, ctx.signal);
  },
  verifyUndo: async (a, before, ctx) => {
    if (!before.existed && (await lookupGroup(a.name, lookupIn(a, ctx)))) throw new VerificationError(`group "${a.name}" created by the step is still there`, { name: a.name });
  },
  wouldChange: async (a, ctx) => (await lookupGroup(a.name, lookupIn(a, ctx))) === undefined,
});
