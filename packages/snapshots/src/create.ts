import * as fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidInputError, isTrustedOwner, isWithin, O_PATH, UnwindError, logger, makePrivateDirectory, syncDirectory, validateAbsolutePath, writeNewFileDurably, type CommandRunner } from '@unwind/core';
import { openDirectorySafely } from '@unwind/files';
import { makeDurable } from './durability.js';
import { SnapshotCreateError, SnapshotSourceChangedError, UnsafeTreeError, UnsupportedEntryError } from './errors.js';
import { cloneOrCopy } from './clone.js';
import { copyFromDescriptor, descriptorPath, openRegularFile } from './regular.js';
import { testHooks } from './hooks.js';
import { settleMoment, settledBefore } from './identity.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, encodeManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { HASHING_IN_FLIGHT, HASH_HERE_BELOW, InFlight, hashFileAsync, hashOpenFileAsync } from './hash.js';
import { Yielder, full, hashDescriptor, hashFile, scanTree, statEntry, type LiveEntry, type ScanFs } from './scan.js';
import { checkId, newSnapshotId, partialDir, readManifest, snapshotDir, writePin, type Pin } from './store.js';

const log = logger('snapshots');
const nodeFs = fs as unknown as ScanFs;

/**
 * Options of {@link create}.
 *
 * @example
 * ```ts
 * const options: CreateOptions = { source: '/srv/app/collection', store: '/srv/app/.snapshots' };
 * ```
 */
export interface CreateOptions {
  /** The tree to snapshot: an absolute path to a directory. Only read. */
  source: string;
  /** The snapshot store: an absolute path, created 0700. Put it on the same filesystem as `source` for reflinks. */
  store: string;
  /** Pin the snapshot for this holder from the moment it exists (retention will not delete it). */
  pin?: Pin;
  /**
   * The id to give the snapshot (default: a new one). A step journals the id
   * before it creates the snapshot, so that recovery can find and remove the
   * `<id>.partial` directory a crash left. With an id given, a leftover
   * `<id>.partial` of an interrupted attempt is replaced, and a complete
   * `<id>` is returned as it is.
   */
  id?: string;
  /** Runs `sync -f` when many files were written. Default core's `runCommand`. */
  exec?: CommandRunner;
  signal?: AbortSignal;
}

/**
 * A snapshot that {@link create} finished.
 *
 * @example
 * ```ts
 * const info: SnapshotInfo = await create(options);
 * console.log(info.id, info.entries, info.bytes);
 * ```
 */
export interface SnapshotInfo {
  id: string;
  store: string;
  /** The snapshot's directory. */
  path: string;
  source: string;
  createdAt: string;
  /** Paths in the manifest (the root included). */
  entries: number;
  /** Bytes of file content stored (hard links counted once). */
  bytes: number;
}

function realOrResolved(path: string): string {
  try {
    return fs.realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Checks a tree to snapshot or restore: an absolute path that is not `/`
 * (nor a path that resolves to it): a restore of `/` would delete the whole
 * machine's files that the snapshot does not list.
 *
 * @example
 * ```ts
 * validateSnapshotSource('/srv/app/collection'); // fine
 * validateSnapshotSource('/'); // throws InvalidInputError
 * ```
 */
export function validateSnapshotSource(path: string, what = 'snapshot source'): void {
  validateAbsolutePath(path, { what });
  if (realOrResolved(path) === '/') throw new InvalidInputError(`the ${what} must not be /`, { path });
}

/**
 * Checks the arguments of a snapshot; throws InvalidInputError. Touches nothing.
 *
 * @example
 * ```ts
 * validateSnapshotPaths('/srv/app', '/srv/app/.snapshots'); // throws: the store is inside the tree
 * ```
 */
export function validateSnapshotPaths(source: string, store: string): void {
  validateSnapshotSource(source);
  validateAbsolutePath(store, { what: 'snapshot store' });
  if (realOrResolved(store) === '/') throw new InvalidInputError('the snapshot store must not be /', { store });
  const [s, t] = [realOrResolved(source), realOrResolved(store)];
  if (isWithin(t, s) || isWithin(s, t)) {
    throw new InvalidInputError(`snapshot store ${store} and source ${source} must not contain each other (the snapshot would copy itself, or a restore would delete the store)`, { source, store });
  }
}

/**
 * Snapshots a directory tree into a store. Reads the source only. Files are
 * copied with a reflink where the filesystem can (`COPYFILE_FICLONE`, a plain
 * copy elsewhere), hashed (SHA-256) — from the stored copy, or for a reflink
 * of a settled, unchanged source file from the source — and listed in a
 * checksummed manifest with type, mode, owner, size, mtime, link target and
 * hard-link groups. The snapshot is built in `<id>.partial`, made durable,
 * then renamed complete: a crash leaves a recognisable incomplete snapshot
 * that is never restored from. A failure (e.g. ENOSPC) removes the partial
 * snapshot and throws {@link SnapshotCreateError}; a source that changes
 * while it is copied makes it throw {@link SnapshotSourceChangedError}.
 *
 * Not recorded: atime, xattrs, ACLs, file capabilities; sockets, FIFOs and
 * devices are refused ({@link UnsupportedEntryError}).
 *
 * @example
 * ```ts
 * const snap = await create({ source: '/srv/app/collection', store: '/srv/app/.snapshots' });
 * // ... arbitrary changes ...
 * await restore({ store: snap.store, id: snap.id, path: '/srv/app/collection' });
 * ```
 */
export async function create(options: CreateOptions): Promise<SnapshotInfo> {
  const { source, store } = options;
  validateSnapshotPaths(source, store);
  const root = fs.lstatSync(source, { throwIfNoEntry: false });
  if (!root?.isDirectory()) throw new InvalidInputError(`snapshot source ${source} is not a directory`, { source });
  const sourceFd = openSourceRoot(source);
  try {
    return await createFrom(options, `/proc/self/fd/${sourceFd}/.`);
  } finally {
    fs.closeSync(sourceFd);
  }
}

/**
 * Opens the source directory for a snapshot the way a restore reaches it:
 * its parent by `@unwind/files`' safe walk from `/`, then the source itself
 * O_NOFOLLOW through that descriptor, with the restore's transition rule
 * (out of a directory of another user only into one of that user's). By
 * path, a user who owns a directory above the source (`~/.config`) could
 * swap it for a symlink to root's (`/root/.config`) while it is read: the
 * store would get root's files, and a restore would write them into her
 * tree. Everything is then read through the descriptor returned (O_PATH):
 * what is copied is what was judged. Refused with {@link UnsafeTreeError}.
 */
function openSourceRoot(source: string): number {
  const above = dirname(source);
  const refuse = (reason: string, cause?: unknown): never => {
    throw new UnsafeTreeError(source, source, reason, cause, 'snapshot');
  };
  let parent: number;
  try {
    parent = openDirectorySafely(above, { what: 'the directory holding the snapshot source', pathOnly: true });
  } catch (error) {
    if (error instanceof UnwindError && (error.code === 'UNSAFE_PATH' || error.code === 'SYMLINK_REFUSED')) refuse(`the way to it is unsafe (${error.message})`, error);
    throw error;
  }
  try {
    const parentStat = fs.fstatSync(parent);
    let fd: number;
    try {
      fd = fs.openSync(`/proc/self/fd/${parent}/${basename(source)}`, O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'ENOTDIR') refuse(`${source} is no longer a directory (it was not followed)`, error);
      throw error;
    }
    const st = fs.fstatSync(fd);
    if (!isTrustedOwner(parentStat.uid) && st.uid !== parentStat.uid) {
      fs.closeSync(fd);
      refuse(`directory ${source} (owned by uid ${st.uid}) is in one owned by uid ${parentStat.uid}: an unsafe path transition (that user could have moved it there)`);
    }
    return fd;
  } finally {
    fs.closeSync(parent);
  }
}

/** {@link create}, reading the source through `reach` (its descriptor's path); `options.source` names it. */
async function createFrom(options: CreateOptions, reach: string): Promise<SnapshotInfo> {
  const { source, store, signal } = options;
  // Before the scan: identities of files whose ctime lies before this moment can be trusted later.
  const moment = settleMoment();
  const live = await scanTree(reach, { shownAs: source, ...(signal ? { signal } : {}) });
  const special = live.find((e) => e.type === 'other');
  if (special) throw new UnsupportedEntryError(full(source, special.path), special.kind ?? 'special file');

  const id = options.id === undefined ? newSnapshotId() : checkId(options.id);
  const partial = partialDir(store, id);
  if (options.id !== undefined) {
    const done = existingSnapshot(store, id, source);
    if (done) return done;
  }
  let began = false;
  try {
    // An existing store too: only the running user may be able to change it; a missing one is made only under directories nobody else can change.
    makePrivateDirectory(store, 'snapshot store');
    if (options.id !== undefined) removePartial(store, id);
    fs.mkdirSync(partial, { mode: 0o700 });
    began = true;
    syncDirectory(store);
    fs.mkdirSync(join(partial, 'data'), { mode: 0o700 });
    const { entries, bytes, written, shards } = await copyTree(reach, source, partial, live, moment, signal);
    await makeDurable(partial, written, [...shards, join(partial, 'data'), partial], { ...(options.exec ? { exec: options.exec } : {}), ...(signal ? { signal } : {}) });
    const createdAt = new Date().toISOString();
    const manifest: Manifest = { format: MANIFEST_FORMAT, id, source, createdAt, entries };
    writeNewFileDurably(join(partial, 'info.json'), JSON.stringify({ id, source, createdAt, entries: entries.length, bytes }), 0o600);
    if (options.pin) writePin(partial, options.pin);
    // The manifest goes last: its presence (inside a renamed, complete directory) is what makes the snapshot usable.
    writeNewFileDurably(join(partial, MANIFEST_FILE), encodeManifest(manifest), 0o600);
    fs.renameSync(partial, snapshotDir(store, id));
    syncDirectory(store);
    log('snapshot %s of %s: %d entries, %d bytes', id, source, entries.length, bytes);
    return { id, store, path: snapshotDir(store, id), source, createdAt, entries: entries.length, bytes };
  } catch (error) {
    if (began) {
      try {
        fs.rmSync(partial, { recursive: true, force: true });
        syncDirectory(store);
      } catch (cleanup) {
        log('could not remove the failed snapshot %s: %s', partial, (cleanup as Error).message);
      }
    }
    if (error instanceof UnwindError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOSPC' ? 'no space left on device in the snapshot store (ENOSPC)' : (error as Error).message;
    throw new SnapshotCreateError(`could not snapshot ${source} into ${store}: ${reason}`, { source, store, id, errno: code }, error);
  }
}

/** A complete snapshot `id` of `source` made by an earlier attempt, or undefined. */
function existingSnapshot(store: string, id: string, source: string): SnapshotInfo | undefined {
  if (!fs.existsSync(join(snapshotDir(store, id), MANIFEST_FILE))) return undefined;
  const manifest = readManifest(store, id);
  if (manifest.source !== source) throw new InvalidInputError(`snapshot ${id} in ${store} holds ${manifest.source}, not ${source}`, { store, id, source });
  let bytes = 0;
  for (const e of manifest.entries) if (e.type === 'file' && e.blob !== undefined) bytes += e.size ?? 0;
  return { id, store, path: snapshotDir(store, id), source, createdAt: manifest.createdAt, entries: manifest.entries.length, bytes };
}

/**
 * Removes `<store>/<id>.partial`, what a crash during {@link create} leaves:
 * only a real directory (never a symlink planted in its place), and the
 * store is synced so the removal survives a crash. True when one was removed.
 *
 * @example
 * ```ts
 * removePartial(store, before.id); // undo of a snapshot step whose creation was interrupted
 * ```
 */
export function removePartial(store: string, id: string): boolean {
  const partial = partialDir(store, checkId(id));
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(partial, { throwIfNoEntry: false });
  } catch (error) {
    // A store that is not a directory holds no partial snapshot (lstat says ENOTDIR, not ENOENT).
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw error;
  }
  if (!st) return false;
  if (!st.isDirectory()) throw new SnapshotCreateError(`${partial} is not a directory this code made; left untouched`, { store, id });
  fs.rmSync(partial, { recursive: true, force: true });
  syncDirectory(store);
  return true;
}

async function copyTree(reach: string, source: string, partial: string, live: LiveEntry[], moment: bigint, signal: AbortSignal | undefined) {
  const yielder = new Yielder(signal, 64);
  const entries: ManifestEntry[] = [];
  const written: string[] = [];
  const leaders = new Map<bigint, ManifestEntry>();
  /** Hard links after the first: their hash is their leader's, known once the leader's hash is done. */
  const followers: Array<{ entry: ManifestEntry; leader: ManifestEntry }> = [];
  const shards = new Set<string>();
  let bytes = 0;
  let blobs = 0;
  const cloning = { canClone: true };
  // The next files are copied while the last large ones are hashed (hash.ts): the hash is most of the time.
  const hashing = new InFlight(HASHING_IN_FLIGHT);
  try {
    for (const e of live) {
      const base = { path: e.path, mode: e.mode, uid: e.uid, gid: e.gid, mtimeNs: e.mtimeNs.toString() };
      if (e.type === 'dir') entries.push({ ...base, type: 'dir' });
      else if (e.type === 'symlink') entries.push({ ...base, type: 'symlink', target: e.target ?? '' });
      else {
        const first = e.nlink > 1 ? leaders.get(e.ino) : undefined;
        const identity = settledBefore(e, moment);
        if (first) {
          const entry: ManifestEntry = { ...base, type: 'file', size: first.size!, sha256: '', linkOf: first.path, ...(identity !== undefined && identity === first.identity ? { identity } : {}) };
          followers.push({ entry, leader: first });
          entries.push(entry);
          continue;
        }
        const blob = blobName(blobs++);
        const stored = join(partial, 'data', blob);
        const shard = dirname(stored);
        if (!shards.has(shard)) {
          fs.mkdirSync(shard, { mode: 0o700 });
          shards.add(shard);
        }
        const from = full(source, e.path);
        const entry: ManifestEntry = { ...base, type: 'file', size: e.size, sha256: '', blob, ...(identity ? { identity } : {}) };
        const opened = openSource(full(reach, e.path), from, e);
        // The hashing task closes the descriptor once it starts; until then (or if it never starts), this does.
        let handedOver = false;
        try {
          const cloned = copySource(opened, stored, cloning);
          // A reflink holds the source's exact bytes at the clone. When the source had settled before the
          // scan and is unchanged after the hash (checked next), the source's hash is the stored copy's:
          // read from the page cache when the tree was used lately, where a fresh clone has none. It is
          // read through the descriptor the copy read: a path could lead elsewhere by now (another user
          // who owns a directory on it can swap it), and give the manifest a hash of something else.
          const fromSource = cloned && identity !== undefined;
          const check = () => {
            const again = fs.fstatSync(opened.fd, { bigint: true });
            const size = fs.lstatSync(stored).size;
            // The stat before the copy and after the hash agree: the hash is the content of the file with this identity.
            if (again.ino !== e.ino || Number(again.size) !== e.size || again.mtimeNs !== e.mtimeNs || again.ctimeNs !== e.ctimeNs || size !== e.size) {
              throw new SnapshotSourceChangedError(from);
            }
          };
          if (e.size < HASH_HERE_BELOW) {
            // At once, here: a small file's hash costs less than a task and a thread's message.
            entry.sha256 = fromSource ? hashDescriptor(nodeFs, opened.fd) : hashFile(nodeFs, stored, e.size);
            check();
          } else {
            await hashing.add(async () => {
              handedOver = true;
              try {
                entry.sha256 = fromSource ? await hashOpenFileAsync(opened.fd, e.size) : await hashFileAsync(stored, e.size);
                check();
              } finally {
                fs.closeSync(opened.fd);
              }
            });
          }
        } finally {
          if (!handedOver) fs.closeSync(opened.fd);
        }
        if (e.nlink > 1) leaders.set(e.ino, entry);
        entries.push(entry);
        written.push(stored);
        bytes += e.size;
        testHooks.point?.('create', blobs);
        await yielder.tick();
      }
    }
    await hashing.drain();
  } finally {
    await hashing.settled(); // a failure above: nothing may still read the partial snapshot its removal deletes
  }
  for (const { entry, leader } of followers) entry.sha256 = leader.sha256;
  // A directory whose entries changed during the copy (a file added or removed) has a new ctime.
  for (const e of live) {
    if (e.type !== 'dir') continue;
    const again = statEntry(nodeFs, reach, e.path);
    if (again.ctimeNs !== e.ctimeNs || again.mtimeNs !== e.mtimeNs) throw new SnapshotSourceChangedError(full(source, e.path));
  }
  return { entries, bytes, written, shards: [...shards] };
}

/**
 * Opens the source file `from` (reached as `at`, through the source's descriptor), scanned as `e`: only when it is a regular
 * file and is the inode the scan saw (regular.ts). A FIFO its owner swapped
 * in after the scan would block a copy by path for ever; now the snapshot
 * fails at once with `UnsupportedEntryError`, or
 * {@link SnapshotSourceChangedError} for another file. The caller closes it.
 */
function openSource(at: string, from: string, e: LiveEntry): { fd: number } {
  const { fd, stat } = openRegularFile(at, from);
  if (stat.dev !== e.dev || stat.ino !== e.ino) {
    fs.closeSync(fd);
    throw new SnapshotSourceChangedError(from);
  }
  return { fd };
}

/**
 * Copies the opened source file to `stored`, reading its descriptor
 * (through `/proc/self/fd`, so that `copyFileSync` can still reflink); true
 * when reflinked.
 */
function copySource(opened: { fd: number }, stored: string, cloning: { canClone: boolean }): boolean {
  const path = descriptorPath(opened.fd);
  if (path !== undefined) return cloneOrCopy(path, stored, cloning);
  copyFromDescriptor(opened.fd, stored);
  return false;
}

/**
 * The stored copy's name under `data/`: spread over up to 256 directories,
 * because creating 20,000 files in one directory costs about twice as much on
 * ext4 as creating them across a few hundred (measured in bench/).
 */
function blobName(n: number): string {
  return `${(n % 256).toString(16).padStart(2, '0')}/${n}`;
}
