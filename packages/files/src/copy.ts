import * as t from 'io-ts';
import { validateAbsolutePath, defineStep } from '@unwind/core';
import { FileAfter, FileBefore, ReplaceOptions, doReplace, prepareReplace, undoReplace, validateReplace, verifyReplace, validateJournaledReplace, verifyUndoReplace, wouldReplace, writtenState } from './replace.js';
import { readNoFollow, readSource, sha256 } from './fsutil.js';

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
  before: FileBefore,
  after: FileAfter,
  validate: (a) => {
    validateAbsolutePath(a.source, { what: 'source' });
    validateReplace(a.path, a);
  },
  validateJournaled: (a, before, _after, where) => validateJournaledReplace(a.path, before, 'files.copy', where),
  describe: (a) => `copy ${a.source} to ${a.path}${a.mode === undefined ? '' : ` (mode ${a.mode.toString(8)})`}`,
  prepare: async (a, ctx) => {
    readNoFollow(a.source); // fail up front if the source is missing, a symlink, or not a file
    return prepareReplace(a.path, ctx);
  },
  do: (a, before, ctx) => {
    const source = readSource(a.source);
    return doReplace(a.path, source.bytes, a, before, ctx, source.mode);
  },
  verify: async (a, _before, after) => verifyReplace(a.path, after),
  undo: (a, before, after, ctx) => undoReplace(a.path, before, writtenState(after, () => sourceHash(a.source)), ctx),
  verifyUndo: async (a, before) => verifyUndoReplace(a.path, before),
  wouldChange: async (a) => wouldReplace(a.path, readNoFollow(a.source), a),
});

function sourceHash(source: string): string | undefined {
  try {
    return sha256(readNoFollow(source));
  } catch {
    return undefined;
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
