import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { syncDescriptor, syncDirectory, writeFully } from './durable.js';

/**
 * Atomic replacement of a file or symlink: whatever crashes when, a reader
 * sees the old target or the new one, never a half-written one, and nothing
 * planted at the temp name or the target is ever written through.
 */

/**
 * The mode and owner a replaced file gets. `uid`/`gid` default to the
 * running process's (no chown is done then).
 *
 * @example
 * ```ts
 * const attributes: FileAttributes = { mode: 0o640, uid: 0, gid: 998 };
 * writeFileAtomically('/etc/app/secret.conf', bytes, attributes);
 * ```
 */
export interface FileAttributes {
  /** Permission bits, 0..0o7777. */
  mode: number;
  uid?: number | undefined;
  gid?: number | undefined;
}

/**
 * Options of {@link writeFileAtomically} and {@link symlinkAtomically}.
 *
 * @example
 * ```ts
 * // systemd skips hidden files in a unit directory, so a crashed temp file is never loaded
 * writeFileAtomically(unitPath, content, { mode: 0o644, temporaryPrefix: `.#${basename(unitPath)}.unwind-` });
 * ```
 */
export interface AtomicWriteOptions extends FileAttributes {
  /** Name prefix of the temp file in the target's directory. Default {@link temporaryPrefixFor}. */
  temporaryPrefix?: string;
}

/**
 * The default temp-file prefix for `target`: `.<name>.unwind-`, hidden, and
 * capped so that prefix and random suffix stay within NAME_MAX (255).
 *
 * @example
 * ```ts
 * temporaryPrefixFor('/etc/app.conf') // '.app.conf.unwind-'
 * ```
 */
export function temporaryPrefixFor(target: string): string {
  return `.${basename(target).slice(0, 100)}.unwind-`;
}

/**
 * An unpredictable temp name in `target`'s directory: `prefix` plus 128
 * random bits, so nobody can plant something at it in advance.
 *
 * @example
 * ```ts
 * temporaryNameFor('/etc/app.conf') // '/etc/.app.conf.unwind-3f9a…(32 hex)'
 * ```
 */
export function temporaryNameFor(target: string, prefix = temporaryPrefixFor(target)): string {
  return join(dirname(target), `${prefix}${randomBytes(16).toString('hex')}`);
}

/**
 * Creates `temporary` with O_EXCL|O_NOFOLLOW (anything already there, a
 * planted symlink included, makes it fail rather than be opened), writes
 * every byte, sets owner and then mode (chown clears set-id bits, so mode
 * goes last), and fsyncs it. On failure the temp file is removed and the
 * error rethrown. Use it when something must happen between writing and
 * renaming (a validate command on the temp file); otherwise use
 * {@link writeFileAtomically}.
 *
 * @example
 * ```ts
 * writeTemporaryFile(temp, bytes, { mode: 0o440, uid: 0, gid: 0 });
 * await ctx.exec({ argv: ['visudo', '-cf', temp] });
 * renameDurably(temp, '/etc/sudoers.d/app');
 * ```
 */
export function writeTemporaryFile(temporary: string, data: string | Uint8Array, attributes: FileAttributes): void {
  const fd = fs.openSync(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    try {
      writeFully(fd, data, temporary);
      const st = fs.fstatSync(fd);
      const uid = attributes.uid ?? st.uid;
      const gid = attributes.gid ?? st.gid;
      if (st.uid !== uid || st.gid !== gid) fs.fchownSync(fd, uid, gid);
      fs.fchmodSync(fd, attributes.mode);
      syncDescriptor(fd, temporary);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    fs.rmSync(temporary, { force: true }); // created by us with O_EXCL: ours to remove
    throw error;
  }
}

/**
 * Renames `from` over `to` (replacing a symlink at `to` itself, never
 * writing through it) and fsyncs the directory, or both directories.
 *
 * @example
 * ```ts
 * renameDurably('/etc/.app.conf.unwind-3f9a…', '/etc/app.conf');
 * ```
 */
export function renameDurably(from: string, to: string): void {
  fs.renameSync(from, to);
  syncDirectory(dirname(to));
  if (dirname(from) !== dirname(to)) syncDirectory(dirname(from));
}

/**
 * Replaces `path` atomically and durably: a temp file with an unpredictable
 * name in the same directory, created O_EXCL|O_NOFOLLOW, every byte written
 * and checked, owner and mode set and fsynced before the rename, renamed over
 * the target, the directory fsynced. On failure the temp file is removed and
 * the target is untouched.
 *
 * @example
 * ```ts
 * writeFileAtomically('/etc/app.conf', 'port = 8080\n', { mode: 0o644, uid: 0, gid: 0 });
 * ```
 */
export function writeFileAtomically(path: string, data: string | Uint8Array, options: AtomicWriteOptions): void {
  const temporary = temporaryNameFor(path, options.temporaryPrefix);
  writeTemporaryFile(temporary, data, options);
  moveIntoPlace(temporary, path);
}

/**
 * Puts a symlink to `target` at `path` atomically: linked under an
 * unpredictable temp name, renamed over `path`, the directory fsynced.
 *
 * @example
 * ```ts
 * symlinkAtomically('/dev/null', '/etc/systemd/system/app.service');
 * ```
 */
export function symlinkAtomically(target: string, path: string, options: { temporaryPrefix?: string } = {}): void {
  const temporary = temporaryNameFor(path, options.temporaryPrefix);
  fs.symlinkSync(target, temporary);
  moveIntoPlace(temporary, path);
}

/** Renames a temp entry beside `path` over it durably; a failed rename removes the temp and leaves `path` as it was. */
function moveIntoPlace(temporary: string, path: string): void {
  try {
    fs.renameSync(temporary, path);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

/**
 * Removes the temp files a crashed atomic write left beside `path` (names
 * starting with `prefix` in its directory; never directories), syncing the
 * directory if any were removed. Returns how many.
 *
 * @example
 * ```ts
 * removeTemporaryFiles('/etc/systemd/system/app.service', `.#app.service.unwind-`);
 * ```
 */
export function removeTemporaryFiles(path: string, prefix = temporaryPrefixFor(path)): number {
  const dir = dirname(path);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0; // no directory: nothing was left there
  }
  const stale = entries.filter((entry) => entry.name.startsWith(prefix) && !entry.isDirectory());
  for (const entry of stale) fs.rmSync(join(dir, entry.name), { force: true });
  if (stale.length > 0) syncDirectory(dir);
  return stale.length;
}
