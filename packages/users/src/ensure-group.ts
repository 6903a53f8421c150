import * as t from 'io-ts';
import { defineStep, VerificationError } from '@unwind/core';
import { CommonArgs, lookupIn, shadowTool } from './common.js';
import { lookupGroup } from './db.js';
import { UserConflictError } from './errors.js';
import { captureLines, CapturedLines, restoreLines, verifyLines } from './lines.js';
import { validateCommon, validateGroupName, validateId } from './names.js';

const Args = t.intersection([t.type({ name: t.string }), t.partial({ gid: t.number, system: t.boolean }), CommonArgs]);
const Before = t.type({ existed: t.boolean, lines: t.array(CapturedLines) });
const After = t.type({ gid: t.number, created: t.boolean });

/**
 * Makes sure a group exists (with `gid` when given). Undo deletes a group it
 * created and puts the group and gshadow lines back exactly. A group that
 * exists with another gid is a UserConflictError: renumbering would orphan
 * files.
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
    const group = await lookupGroup(a.name, lookupIn(a, ctx));
    if (group && a.gid !== undefined && group.gid !== a.gid) {
      throw new UserConflictError(`group "${a.name}" exists with gid ${group.gid}, not ${a.gid}; unwind does not renumber groups`, { name: a.name, gid: group.gid, wanted: a.gid });
    }
    return { existed: group !== undefined, lines: captureLines(a.prefix, { group: [a.name], gshadow: [a.name] }) };
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
  undo: async (a, before, _after, ctx) => {
    if (!before.existed && (await lookupGroup(a.name, lookupIn(a, ctx)))) await shadowTool(ctx, a, 'groupdel', [a.name]);
    await restoreLines(a.prefix, before.lines, ctx.signal);
  },
  verifyUndo: async (a, before) => verifyLines(a.prefix, before.lines),
  wouldChange: async (a, ctx) => (await lookupGroup(a.name, lookupIn(a, ctx))) === undefined,
});
