import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as t from 'io-ts';
import { defineStep, InvalidInputError, syncDirectory, validateAbsolutePath, VerificationError } from '@unwind/core';
import { daemonReload, ManagerOptions, validateUnitName } from '@unwind/systemd';
import { generatedUnit } from './quadlet.js';
import { quadletExtension } from './quadlet-file.js';

const Args = t.type({
  /** The unit file to remove. */
  path: t.string,
  /** The manager to reload after removing and after putting back. */
  manager: ManagerOptions,
});
type Args = t.TypeOf<typeof Args>;

/** Where the file waits until commit: a hidden name in the same directory, which systemd does not read. */
function stagedPath(path: string, transactionId: string, step: number): string {
  return join(dirname(path), `.#${basename(path)}.unwind-removed-${transactionId}-${step}`);
}

const reload = (a: Args, ctx: Parameters<typeof daemonReload.definition.do>[2]) => daemonReload.definition.do(a.manager, null, ctx);

/**
 * Removes a unit file or a Quadlet file (staged: renamed aside to a hidden name in the same
 * directory, deleted for good only at commit) and reloads the manager.
 * Undo renames it back and reloads, so a later undo that restarts the unit
 * finds it loaded again — the order systemd's own `daemonReload` kind
 * cannot give when it is a separate step (its undo runs first).
 *
 * @example
 * ```ts
 * tx.add(stop({ unit: 'web.service', scope: { user: 'web' } }));
 * tx.add(removeUnitFile({ path: '/home/web/.config/systemd/user/web.service', manager: { scope: { user: 'web' } } }));
 * ```
 */
export const removeUnitFile = defineStep({
  type: 'containers.removeUnitFile',
  package: '@unwind/example-container-reconciler',
  args: Args,
  before: t.type({ existed: t.boolean, staged: t.string }),
  validate: (a) => {
    validateAbsolutePath(a.path, { what: 'unit file' });
    // A Quadlet file is named for the unit the generator makes from it.
    const name = basename(a.path);
    validateUnitName(quadletExtension(name) ? generatedUnit(name) : name, 'file');
    daemonReload.definition.validate?.(a.manager);
    if (basename(a.path).startsWith('.')) throw new InvalidInputError(`${a.path} is not a unit file name`, { path: a.path });
  },
  describe: (a) => `remove unit file ${a.path}`,
  prepare: async (a, ctx) => ({ existed: fs.existsSync(a.path), staged: stagedPath(a.path, ctx.transactionId, ctx.stepIndex) }),
  do: async (a, before, ctx) => {
    if (before.existed && fs.existsSync(a.path) && !fs.existsSync(before.staged)) {
      fs.renameSync(a.path, before.staged);
      syncDirectory(dirname(a.path));
    }
    await reload(a, ctx);
  },
  verify: async (a) => {
    if (fs.existsSync(a.path)) throw new VerificationError(`${a.path} is still there`, { path: a.path });
  },
  undo: async (a, before, _after, ctx) => {
    if (fs.existsSync(before.staged) && !fs.existsSync(a.path)) {
      fs.renameSync(before.staged, a.path);
      syncDirectory(dirname(a.path));
    }
    if (before.existed) await reload(a, ctx);
  },
  verifyUndo: async (a, before) => {
    if (before.existed && !fs.existsSync(a.path)) throw new VerificationError(`${a.path} is not back`, { path: a.path });
  },
  commit: async (a, before) => {
    fs.rmSync(before.staged, { force: true });
    if (fs.existsSync(dirname(a.path))) syncDirectory(dirname(a.path));
  },
});
