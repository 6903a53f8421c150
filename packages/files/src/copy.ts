import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import * as t from 'io-ts';
import { validateAbsolutePath, defineStep } from '@unwind/core';
import { FileAfter, FileBefore, ReplaceOptions, doReplace, prepareReplace, undoReplace, validateReplace, verifyReplace, validateJournaledReplace, verifyUndoReplace, wouldReplace, writtenState } from './replace.js';
import { isPrivateDirectory, readSource, sha256 } from './fsutil.js';
import { TargetChangedError } from './errors.js';
import { openDirectorySafely } from './safe-path.js';

const CopyArgs = t.intersection([
  t.type({
    /** The file to copy (a regular file; a symlink here is refused). */
    source: t.string,
    /** Absolute path of the target. Its directory must exist. */
    path: t.string,
  }),
  ReplaceOptions,
]);

/**
 * Arguments of {@link copy} / {@link install}.
 *
 * @example
 * ```ts
 * const args: CopyArgs = { source: '/opt/build/app', path: '/usr/local/bin/app', mode: 0o755 };
 * ```
 */
export type CopyArgs = t.TypeOf<typeof CopyArgs>;

/**
 * {@link FileBefore} and the sha256 of the source as prepare read it: do copies only those bytes, and an undo
 * after a do that did not finish compares the target with this hash, never with the source as it is then
 * (whoever can write the source could otherwise make any file at the target look like this step's work).
 */
const CopyBefore = t.intersection([FileBefore, t.partial({ sourceSha256: t.string })]);

/**
 * Copies a regular file to a target with mode and owner, like `install -m`:
 * the same atomic replacement as {@link writeFile} (temp file, sync, rename,
 * directory sync, optional `validate`), and undo restores the previous
 * target exactly (or removes it if there was none). Without `mode`, the copy
 * is never more permissive than its source: a 0600 source gives a 0600 copy
 * (set-id bits are never carried over); replacing a file keeps at most its
 * old permissions.
 *
 * @example
 * ```ts
 * import { copy } from '@unwind/files';
 * tx.add(copy({ source: './build/app', path: '/usr/local/bin/app', mode: 0o755, uid: 0, gid: 0 }));
 * ```
 */
export const copy = defineStep({
  type: 'files.copy',
  package: '@unwind/files',
  args: CopyArgs,
  before: CopyBefore,
  after: FileAfter,
  validate: (a) => {
    validateAbsolutePath(a.source, { what: 'source' });
    validateReplace(a.path, a);
  },
  validateJournaled: (a, before, _after, where) => validateJournaledReplace(a.path, before, 'files.copy', where),
  describe: (a) => `copy ${a.source} to ${a.path}${a.mode === undefined ? '' : ` (mode ${a.mode.toString(8)})`}`,
  prepare: async (a, ctx) => {
    // Fails up front if the source is missing, a symlink, not a file, or reached through a path another user controls.
    const source = readSourceSafely(a.source);
    return { ...(await prepareReplace(a.path, ctx)), sourceSha256: sha256(source.bytes) };
  },
  do: async (a, before, ctx) => {
    const source = readSourceSafely(a.source);
    if (before.sourceSha256 !== undefined && sha256(source.bytes) !== before.sourceSha256) {
      throw new TargetChangedError(`the source ${a.source} changed since prepare read it; nothing was touched`, { path: a.source });
    }
    return doReplace(a.path, source.bytes, a, before, ctx, source.mode);
  },
  verify: async (a, _before, after) => verifyReplace(a.path, after),
  // A journal from before sourceSha256 was recorded: the content is unknown, so only a target that is gone or
  // already restored is taken as undone (never one re-read from a source someone else may write).
  undo: (a, before, after, ctx) => undoReplace(a.path, before, writtenState(after, () => before.sourceSha256), ctx),
  verifyUndo: async (a, before) => verifyUndoReplace(a.path, before),
  wouldChange: async (a) => wouldReplace(a.path, readSourceSafely(a.source).bytes, a),
});

/**
 * Reads the source like a target is reached: its directory opened component by component from `/` (a symlink
 * on the way that another user controls, or an unsafe transition, is an UnsafePathError), the file itself
 * opened through that descriptor without following a symlink.
 */
function readSourceSafely(source: string): { bytes: Buffer; mode: number } {
  const dir = openDirectorySafely(dirname(source), { what: 'the directory of the source', follow: true, pathOnly: true });
  try {
    // The rule chmod and chown apply to a target: a hard link is taken only from a directory nobody else can write.
    return readSource(`/proc/self/fd/${dir}/${basename(source)}`, source, { refuseHardLinks: !isPrivateDirectory(fs.fstatSync(dir)) });
  } finally {
    fs.closeSync(dir);
  }
}

/**
 * Another name for {@link copy}, for readers who think in `install -m 0755 -o root`.
 *
 * @example
 * ```ts
 * tx.add(install({ source: 'dist/app.service', path: '/etc/systemd/system/app.service', mode: 0o644 }));
 * ```
 */
export const install = copy;
