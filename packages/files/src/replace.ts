import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, checkJournaledBlob, type JournalPlace, VerificationError, validateAbsolutePath, type StepContext, renameDurably, type FileAttributes, syncDirectory, temporaryNameFor, writeTemporaryFile } from '@unwind/core';
import { checkBlobName, checkTemporaryName } from './journal-checks.js';
import { Identity, identityOfStats, inDirectory } from './directory-handle.js';
import { SymlinkRefusedError, UnexpectedFileTypeError, ValidationCommandError } from './errors.js';
import { checkSignal, isPrivateDirectory, lstatOrUndefined, processOwner, readSource, safeReadlink, sha256, unlinkIfPresent, type SourceFile } from './fsutil.js';

/**
 * The atomic replacement of one regular file, shared by `files.writeFile` and
 * `files.copy`: temp file beside the target (O_EXCL, unpredictable name,
 * journaled so undo can clean it), owner and mode set and synced before the
 * rename, the directory synced after it. The before-state lives in the
 * journal's blob store, never beside the target.
 */

/**
 * Options common to the file-replacing steps (`writeFile`, `copy`):
 * mode, owner, and a `validate` command run on the temp file.
 *
 * @example
 * ```ts
 * tx.add(writeFile({ path: '/etc/sudoers.d/app', content, mode: 0o440, uid: 0, gid: 0, validate: ['visudo', '-cf', '%s'] }));
 * ```
 */
export const ReplaceOptions = t.partial({
  /** Permission bits of the new file. Default: the old file's, or 0o644. */
  mode: t.number,
  /** Owner. Default: the old file's, or the running process's. */
  uid: t.number,
  gid: t.number,
  /** A command run on the temp file before it replaces anything; `%s` is replaced by the temp path. */
  validate: t.array(t.string),
  /** Timeout of the validate command, ms. Default 60 000. */
  validateTimeoutMs: t.number,
});

/**
 * The file-replacing options as a type.
 *
 * @example
 * ```ts
 * const options: ReplaceOptions = { mode: 0o640, uid: 0, gid: 998, validate: ['visudo', '-cf', '%s'] };
 * ```
 */
export type ReplaceOptions = t.TypeOf<typeof ReplaceOptions>;

/**
 * What was at the target before: nothing, or a regular file (its bytes are
 * kept in the journal's blob store under `blob`, never beside the target).
 * `temp` is the journaled name of the temp file, so undo can clean it up.
 *
 * @example
 * ```ts
 * if (before.existed) console.log(`old file: ${before.size} bytes, mode ${before.mode.toString(8)}, blob ${before.blob}`);
 * ```
 */
export const FileBefore = t.intersection([
  t.union([
    t.type({ existed: t.literal(false), temp: t.string }),
    t.type({ existed: t.literal(true), temp: t.string, mode: t.number, uid: t.number, gid: t.number, size: t.number, sha256: t.string, blob: t.string }),
  ]),
  /** The target's directory as prepare opened it: `do` and undo act only in that very directory. */
  t.partial({ parent: Identity }),
]);
/**
 * The before-state of a file-replacing step.
 *
 * @example
 * ```ts
 * if (before.existed) console.log(`old file: ${before.size} bytes, mode ${before.mode.toString(8)}`);
 * ```
 */
export type FileBefore = t.TypeOf<typeof FileBefore>;

/**
 * What a file-replacing `do` wrote: hash, size, mode and owner, checked by `verify`.
 *
 * @example
 * ```ts
 * const written = get(handle); // { sha256, size, mode, uid, gid }
 * ```
 */
export const FileAfter = t.type({ sha256: t.string, size: t.number, mode: t.number, uid: t.number, gid: t.number });
/**
 * The after-state of a file-replacing step.
 *
 * @example
 * ```ts
 * const written = get(handle); // { sha256, size, mode, uid, gid }
 * ```
 */
export type FileAfter = t.TypeOf<typeof FileAfter>;

/** Recovery: the journaled temp name is this step's own, the blob name one it writes, and the blob a regular file in this step's blob directory. */
export function validateJournaledReplace(path: string, before: FileBefore, what: string, where: JournalPlace): void {
  checkTemporaryName(path, before.temp, what);
  if (before.existed) {
    checkBlobName(before.blob, what);
    checkJournaledBlob(where, before.blob, what);
  }
}

/** Checks path, mode, owner and validate command before anything is touched. */
export function validateReplace(path: string, options: ReplaceOptions, what = 'path'): void {
  validateAbsolutePath(path, { what });
  if (path === '/') throw new InvalidInputError(`${what} must not be /`, { path });
  validateModeAndOwner(options);
  if (options.validate !== undefined) {
    const argv = options.validate;
    if (argv.length === 0 || !argv[0]) throw new InvalidInputError('validate must be a non-empty argv array', { validate: argv });
    if (argv.some((a) => a.includes('\0'))) throw new InvalidInputError('validate arguments must not contain NUL', { validate: argv });
    if (!argv.some((a) => a.includes('%s'))) throw new InvalidInputError('validate must contain "%s", the place of the temp file', { validate: argv });
  }
}

/** Checks mode (0..0o7777) and uid/gid (non-negative integers). */
export function validateModeAndOwner(options: { mode?: number | undefined; uid?: number | undefined; gid?: number | undefined }): void {
  if (options.mode !== undefined && (!Number.isInteger(options.mode) || options.mode < 0 || options.mode > 0o7777)) {
    throw new InvalidInputError(`mode ${options.mode} must be an integer from 0 to 0o7777`, { mode: options.mode });
  }
  for (const key of ['uid', 'gid'] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 0xfffffffe)) throw new InvalidInputError(`${key} ${value} must be a non-negative integer`, { [key]: value });
  }
}

/**
 * READ-ONLY: what is at `path` now, read through its opened directory; keeps its bytes in `ctx.blobs`.
 * Refuses a symlink or a non-file. Bytes, mode and owner come from one descriptor: looked up twice, the
 * name could lead to two files (a user who owns the directory renames a hard link to /etc/shadow over
 * their file in between), and a rollback would then write one file's bytes with the other's mode and
 * owner. A file with other hard links, in a directory someone else can write, is refused
 * (`HardLinkRefusedError`): its bytes may be another file's that its owner must not get back.
 */
export async function prepareReplace(path: string, ctx: StepContext): Promise<FileBefore> {
  const parent = lstatOrUndefined(dirname(path));
  if (!parent?.isDirectory()) throw new UnexpectedFileTypeError(`the directory of ${path} does not exist (add a files.ensureDir step first)`, { path });
  const temp = temporaryNameFor(path);
  return inDirectory(dirname(path), { phase: 'do', what: 'the directory of the file' }, async (dir) => {
    const parentStat = fs.fstatSync(dir.fd, { bigint: true });
    const parentIdentity = identityOfStats(parentStat);
    const privateParent = isPrivateDirectory({ uid: Number(parentStat.uid), mode: Number(parentStat.mode) });
    let found: SourceFile;
    try {
      found = readSource(dir.entry(basename(path)), path, { refuseHardLinks: !privateParent, refusing: 'refusing to keep its bytes, mode and owner to put back on rollback' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { existed: false as const, temp, parent: parentIdentity };
      throw error;
    }
    const { bytes } = found;
    const hash = sha256(bytes);
    const blob = `before-${hash.slice(0, 32)}`;
    if (!(await ctx.blobs.has(blob))) await ctx.blobs.write(blob, bytes);
    return { existed: true as const, temp, mode: found.mode, uid: found.uid, gid: found.gid, size: bytes.length, sha256: hash, blob, parent: parentIdentity };
  });
}

/**
 * The mode and owner the new file gets. With a `sourceMode` (a copy), the
 * default mode is never more permissive than the source: a 0600 secret
 * copied over a 0644 file stays 0600. Only a caller's explicit `mode` widens it.
 */
export function attributesFor(options: ReplaceOptions, before: FileBefore, sourceMode?: number): Required<FileAttributes> {
  const own = processOwner();
  const inherited = before.existed ? before.mode : 0o644;
  return {
    mode: options.mode ?? (sourceMode === undefined ? inherited : (before.existed ? inherited : 0o777) & sourceMode & 0o777),
    uid: options.uid ?? (before.existed ? before.uid : own.uid),
    gid: options.gid ?? (before.existed ? before.gid : own.gid),
  };
}

/** Refuses anything at `entry` (the target, reached through its open directory) that is not absent or a regular file. */
function checkTarget(entry: string, path: string): void {
  const st = lstatOrUndefined(entry);
  if (st?.isSymbolicLink()) throw new SymlinkRefusedError(path, safeReadlink(entry));
  if (st && !st.isFile()) throw new UnexpectedFileTypeError(`${path} exists and is not a regular file`, { path });
}

/**
 * Writes `data` to the journaled temp name, validates it, renames it over
 * `path`, syncs the directory — all through the target's directory opened
 * and compared with the one prepare opened, so a parent swapped for a
 * symlink since is refused (TargetChangedError) and cannot redirect it.
 */
export async function doReplace(path: string, data: Uint8Array, options: ReplaceOptions, before: FileBefore, ctx: StepContext, sourceMode?: number): Promise<FileAfter> {
  checkSignal(ctx.signal);
  return inDirectory(dirname(path), { expected: before.parent, phase: 'do', what: 'the directory of the file' }, async (dir) => {
    const target = dir.entry(basename(path));
    const temp = dir.entry(basename(before.temp));
    checkTarget(target, path); // a symlink planted since prepare is refused too
    const attributes = attributesFor(options, before, sourceMode);
    unlinkIfPresent(temp); // only our own leftover from an earlier attempt can have this name
    writeTemporaryFile(temp, data, attributes);
    try {
      if (options.validate) {
        // The command reaches the temp file through our open directory too (and relative names from its directory still work).
        const argv = options.validate.map((a) => a.replaceAll('%s', dir.entryForChild(basename(before.temp))));
        try {
          await ctx.exec({ argv, signal: ctx.signal, timeoutMs: options.validateTimeoutMs ?? 60_000 });
        } catch (error) {
          throw new ValidationCommandError(path, argv, error);
        }
      }
      checkSignal(ctx.signal);
      checkTarget(target, path);
      renameDurably(temp, target);
    } catch (error) {
      unlinkIfPresent(temp);
      throw error;
    }
    return { sha256: sha256(data), size: data.length, ...attributes };
  });
}

/** Throws unless `path` is a regular file with exactly these bytes, mode and owner (all read from one descriptor). */
export function checkFile(path: string, expected: { sha256: string; mode: number; uid: number; gid: number }, what: string): void {
  const file = fileAt(path);
  if (file === 'missing') throw new VerificationError(`${path} does not exist (${what})`, { path });
  if (file === 'not a regular file') throw new VerificationError(`${path} is not a regular file (${what})`, { path });
  const problems: string[] = [];
  if (file.mode !== expected.mode) problems.push(`mode is ${file.mode.toString(8)}, expected ${expected.mode.toString(8)}`);
  if (file.uid !== expected.uid || file.gid !== expected.gid) problems.push(`owner is ${file.uid}:${file.gid}, expected ${expected.uid}:${expected.gid}`);
  if (sha256(file.bytes) !== expected.sha256) problems.push('content differs');
  if (problems.length > 0) throw new VerificationError(`${path}: ${problems.join(', ')} (${what})`, { path, problems });
}

/**
 * The regular file at `path` — bytes, mode and owner from one descriptor
 * (readSource) — or undefined when what is there by now is not one. Every
 * decision about a file in a directory another user may change reads it
 * this way: an lstat and a later read by name may see two files, and pair
 * one file's mode and owner with another's bytes.
 */
function regularFileAt(path: string): SourceFile | undefined {
  const file = fileAt(path);
  return typeof file === 'object' ? file : undefined;
}

/** {@link regularFileAt}, telling apart why there is none: from the open's own answer, with no lstat before it. */
function fileAt(path: string): SourceFile | 'missing' | 'not a regular file' {
  try {
    return readSource(path);
  } catch (error) {
    if (error instanceof SymlinkRefusedError || error instanceof UnexpectedFileTypeError) return 'not a regular file';
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    if (code === 'ELOOP') return 'not a regular file';
    throw error;
  }
}

/** verify: the target holds what `do` wrote. */
export function verifyReplace(path: string, after: FileAfter): void {
  checkFile(path, after, 'after writing');
}

/**
 * Puts the before-state back: the old bytes, mode and owner (via temp,
 * rename and directory sync), or no file. Compare-and-swap: it changes the
 * target only while it still holds what this step left there (`written`:
 * its hash, and with a finished `do` its mode and owner); anything else —
 * an admin's edit, a later transaction's commit, a planted symlink, a
 * deleted file — is left untouched and {@link UndoConflictError} (never
 * retried) names both states. Idempotent; works when `do` never ran or
 * stopped half-way (`after` undefined): then the target may also still be
 * the before-state, which needs nothing.
 */
export async function undoReplace(path: string, before: FileBefore, written: WrittenState, ctx: StepContext): Promise<void> {
  // Through the directory prepare opened (its inode): a parent swapped for a symlink is a conflict, never followed.
  await inDirectory(dirname(path), { expected: before.parent, phase: 'undo', what: 'the directory of the file' }, async (dir) => {
    const target = dir.entry(basename(path));
    if (unlinkIfPresent(dir.entry(basename(before.temp)))) syncDirectory(dir.self);
    const restoreTemp = dir.entry(`${basename(before.temp)}-undo`);
    if (unlinkIfPresent(restoreTemp)) syncDirectory(dir.self);
    const st = lstatOrUndefined(target);
    if (!before.existed && !st) return;
    if (before.existed && st?.isFile() && matches(target, before)) return;
    const found = describeFound(target, st);
    if (!st?.isFile() || !holdsWritten(target, written)) throw new UndoConflictError(path, describeWritten(written), found, { path });
    if (!before.existed) {
      fs.unlinkSync(target);
      syncDirectory(dir.self);
      return;
    }
    const bytes = await ctx.blobs.read(before.blob);
    writeTemporaryFile(restoreTemp, bytes, { mode: before.mode, uid: before.uid, gid: before.gid });
    renameDurably(restoreTemp, target);
  });
}

/**
 * What a file-replacing step left at its target, as undo compares it: the
 * content hash, and mode and owner when `do` finished (undefined when not
 * even the hash is known: then nothing there can be proven to be ours).
 */
export interface WrittenState {
  sha256: string | undefined;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** What undo expects, from the journaled after-state or, when `do` did not finish, the bytes it would have written. */
export function writtenState(after: FileAfter | undefined, wouldWrite: () => string | undefined): WrittenState {
  return after ? { sha256: after.sha256, mode: after.mode, uid: after.uid, gid: after.gid } : { sha256: wouldWrite() };
}

function holdsWritten(path: string, written: WrittenState): boolean {
  if (written.sha256 === undefined) return false;
  const file = regularFileAt(path);
  if (!file) return false;
  if (written.mode !== undefined && file.mode !== written.mode) return false;
  if ((written.uid !== undefined && file.uid !== written.uid) || (written.gid !== undefined && file.gid !== written.gid)) return false;
  return sha256(file.bytes) === written.sha256;
}

function describeWritten(written: WrittenState): string {
  if (written.sha256 === undefined) return 'the file this step wrote (its content is unknown)';
  const attributes = written.mode === undefined ? '' : ` mode ${written.mode.toString(8)} owner ${written.uid}:${written.gid}`;
  return `sha256 ${written.sha256}${attributes}`;
}

/** A short description of what is at `path` now, for a conflict message. */
export function describeFound(path: string, st: fs.Stats | undefined): string {
  if (!st) return 'nothing';
  if (st.isSymbolicLink()) return `a symlink to ${safeReadlink(path) ?? '?'}`;
  if (st.isDirectory()) return 'a directory';
  if (!st.isFile()) return 'a special file';
  let file: SourceFile | undefined;
  try {
    file = regularFileAt(path);
  } catch {
    // unreadable: the lstat's mode and owner are all there is to show
  }
  if (!file) return `sha256 unreadable mode ${(st.mode & 0o7777).toString(8)} owner ${st.uid}:${st.gid}`;
  return `sha256 ${sha256(file.bytes)} mode ${file.mode.toString(8)} owner ${file.uid}:${file.gid}`;
}

function matches(path: string, before: Extract<FileBefore, { existed: true }>): boolean {
  const file = regularFileAt(path);
  if (!file || file.mode !== before.mode || file.uid !== before.uid || file.gid !== before.gid || file.size !== before.size) return false;
  return sha256(file.bytes) === before.sha256;
}

/** verifyUndo: the before-state holds. */
export function verifyUndoReplace(path: string, before: FileBefore): void {
  if (!before.existed) {
    if (lstatOrUndefined(path)) throw new VerificationError(`${path} should not exist after undo`, { path });
    return;
  }
  checkFile(path, before, 'after undo');
}

/** plan(): whether writing `data` would change anything. */
export function wouldReplace(path: string, data: Uint8Array, options: ReplaceOptions): boolean {
  const file = regularFileAt(path);
  if (!file) return true;
  if (options.mode !== undefined && file.mode !== options.mode) return true;
  if ((options.uid !== undefined && file.uid !== options.uid) || (options.gid !== undefined && file.gid !== options.gid)) return true;
  return sha256(file.bytes) !== sha256(data);
}
