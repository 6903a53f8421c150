import * as t from 'io-ts';
import { InvalidInputError, defineStep } from '@unwind/core';
import { FileAfter, FileBefore, ReplaceOptions, doReplace, prepareReplace, undoReplace, validateReplace, verifyReplace, validateJournaledReplace, verifyUndoReplace, wouldReplace, writtenState } from './replace.js';
import { sha256 } from './fsutil.js';

const WriteFileArgs = t.intersection([
  t.type({
    /** Absolute path of the file. Its directory must exist. */
    path: t.string,
    /** The new content. */
    content: t.string,
  }),
  t.partial({
    /** How `content` is encoded: `utf8` (default) or `base64` for binary content. */
    encoding: t.union([t.literal('utf8'), t.literal('base64')]),
  }),
  ReplaceOptions,
]);

/**
 * Arguments of {@link writeFile}.
 *
 * @example
 * ```ts
 * const args: WriteFileArgs = { path: '/etc/app.conf', content: 'port = 80\n', mode: 0o644 };
 * ```
 */
export type WriteFileArgs = t.TypeOf<typeof WriteFileArgs>;

function bytesOf(args: WriteFileArgs): Buffer {
  return Buffer.from(args.content, args.encoding ?? 'utf8');
}

/**
 * Writes a whole file atomically: a temp file in the target's directory
 * (O_EXCL, unpredictable name), owner and mode set and the file synced before
 * it is renamed over the target, then the directory synced. An optional
 * `validate` command (argv; `%s` is the temp path) checks the new content
 * before it replaces anything. The old bytes, mode and owner (or their
 * absence) are kept in the journal's blob store, never beside the target;
 * undo puts exactly that back, atomically — only while the target still holds
 * what this step wrote (else UndoConflictError, and the file is left as it is). A symlink at the target is refused,
 * never followed.
 *
 * @example
 * ```ts
 * import { writeFile } from '@unwind/files';
 * tx.add(writeFile({
 *   path: '/etc/nginx/nginx.conf',
 *   content: config,
 *   mode: 0o644, uid: 0, gid: 0,
 *   validate: ['nginx', '-t', '-c', '%s'],
 * }));
 * ```
 */
export const writeFile = defineStep({
  type: 'files.writeFile',
  package: '@unwind/files',
  args: WriteFileArgs,
  before: FileBefore,
  after: FileAfter,
  validate: (a) => {
    validateReplace(a.path, a);
    if (a.encoding === 'base64' && Buffer.from(a.content, 'base64').toString('base64') !== a.content.replace(/\s+/g, '')) {
      throw new InvalidInputError(`content of ${a.path} is not valid base64`, { path: a.path });
    }
  },
  validateJournaled: (a, before, _after, where) => validateJournaledReplace(a.path, before, 'files.writeFile', where),
  describe: (a) => `write ${a.path}${a.mode === undefined ? '' : ` (mode ${a.mode.toString(8)})`}`,
  prepare: (a, ctx) => prepareReplace(a.path, ctx),
  do: (a, before, ctx) => doReplace(a.path, bytesOf(a), a, before, ctx),
  verify: async (a, _before, after) => verifyReplace(a.path, after),
  undo: (a, before, after, ctx) => undoReplace(a.path, before, writtenState(after, () => sha256(bytesOf(a))), ctx),
  verifyUndo: async (a, before) => verifyUndoReplace(a.path, before),
  wouldChange: async (a) => wouldReplace(a.path, bytesOf(a), a),
});
