import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as t from 'io-ts';
import { defineStep, InvalidInputError, syncDirectory, UntrustedJournalError, validateAbsolutePath, VerificationError } from '@unwind/core';
import { daemonReload, ManagerOptions, validateUnitName } from '@unwind/systemd';
import { generatedUnit } from './quadlet.js';
import { quadletExtension } from './quadlet-file.js';
import { entryExists, inHomeDirectory } from './home-dir.js';

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

/**
 * The staged name of `before.staged`, which must be the hidden name beside `a.path` this step
 * gives (a journal read back is not trusted to name another file, or another directory).
 */
function stagedName(a: Args, staged: string): string {
  const name = basename(staged);
  if (dirname(staged) !== dirname(a.path) || !name.startsWith(`.#${basename(a.path)}.unwind-removed-`) || name.includes('/')) {
    throw new UntrustedJournalError(`the staged name ${staged} is not one this step gives ${a.path}`, { path: a.path, staged });
  }
  return name;
}

const reload = (a: Args, ctx: Parameters<typeof daemonReload.definition.do>[2]) => daemonReload.definition.do(a.manager, null, ctx);

/**
 * Removes a unit file or a Quadlet file (staged: renamed aside to a hidden name in the same
 * directory, deleted for good only at commit) and reloads the manager.
 * The directory is in a container user's home, which that user can change
 * while root acts: it is reached as installUnit reaches a user's unit
 * directory (a safe walk to the home, then O_NOFOLLOW for each directory
 * below it, see home-dir.ts), and every rename and unlink goes through its
 * descriptor — a directory swapped for a symlink (to /etc/systemd/system)
 * is refused, never followed to root's unit of the same name.
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
  prepare: async (a, ctx) => ({
    existed: inHomeDirectory(dirname(a.path), (dir) => dir !== undefined && entryExists(dir.entry(basename(a.path))), a.manager.home),
    staged: stagedPath(a.path, ctx.transactionId, ctx.stepIndex),
  }),
  do: async (a, before, ctx) => {
    const staged = stagedName(a, before.staged);
    inHomeDirectory(dirname(a.path), (dir) => {
      if (!dir || !before.existed || !entryExists(dir.entry(basename(a.path))) || entryExists(dir.entry(staged))) return;
      fs.renameSync(dir.entry(basename(a.path)), dir.entry(staged));
      syncDirectory(dir.self);
    }, a.manager.home);
    await reload(a, ctx);
  },
  verify: async (a) => {
    if (inHomeDirectory(dirname(a.path), (dir) => dir !== undefined && entryExists(dir.entry(basename(a.path))), a.manager.home)) throw new VerificationError(`${a.path} is still there`, { path: a.path });
  },
  undo: async (a, before, _after, ctx) => {
    const staged = stagedName(a, before.staged);
    inHomeDirectory(dirname(a.path), (dir) => {
      if (!dir || !entryExists(dir.entry(staged)) || entryExists(dir.entry(basename(a.path)))) return;
      fs.renameSync(dir.entry(staged), dir.entry(basename(a.path)));
      syncDirectory(dir.self);
    }, a.manager.home);
    if (before.existed) await reload(a, ctx);
  },
  verifyUndo: async (a, before) => {
    if (before.existed && !inHomeDirectory(dirname(a.path), (dir) => dir !== undefined && entryExists(dir.entry(basename(a.path))), a.manager.home)) throw new VerificationError(`${a.path} is not back`, { path: a.path });
  },
  commit: async (a, before) => {
    const staged = stagedName(a, before.staged);
    inHomeDirectory(dirname(a.path), (dir) => {
      if (!dir) return;
      try {
        fs.unlinkSync(dir.entry(staged));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        return;
      }
      syncDirectory(dir.self);
    }, a.manager.home);
  },
});
