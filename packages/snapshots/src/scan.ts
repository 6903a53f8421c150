import { createHash } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { descriptorPath, openRegularFile } from './regular.js';
import { openScannedDirectory } from './scanned-directory.js';

/**
 * The few synchronous calls scanning needs, so the same code walks a real
 * disk (`node:fs`) or an in-memory volume (memfs) in unit tests.
 *
 * Scanning is synchronous on purpose: one lstat is a microsecond, a thread
 * pool round-trip costs more than the call. An internal `Yielder` gives the
 * event loop a turn every few hundred calls so signals and timers still run.
 *
 * @example
 * ```ts
 * import { Volume } from 'memfs';
 * await scanTree('/t', { fs: Volume.fromJSON({ '/t/a': 'x' }) as unknown as ScanFs });
 * ```
 */
export interface ScanFs {
  /** `fs.lstatSync(path, { bigint: true })`: metadata without following a link. */
  lstatSync(path: string, options: { bigint: true }): {
    mode: bigint; uid: bigint; gid: bigint; size: bigint; dev: bigint; ino: bigint; nlink: bigint; mtimeNs: bigint; ctimeNs: bigint;
    /** A regular file. */
    isFile(): boolean;
    /** A directory. */
    isDirectory(): boolean;
    /** A symbolic link. */
    isSymbolicLink(): boolean;
    /** A socket (refused by snapshots). */
    isSocket(): boolean;
    /** A FIFO (refused by snapshots). */
    isFIFO(): boolean;
    /** A block device (refused by snapshots). */
    isBlockDevice(): boolean;
    /** A character device (refused by snapshots). */
    isCharacterDevice(): boolean;
  };
  /** `fs.readdirSync`: the names in a directory. */
  readdirSync(path: string): string[];
  /** `fs.readlinkSync`: a link's target. */
  readlinkSync(path: string): string;
  /** `fs.readFileSync`: a whole file (no longer used by {@link hashFile}; kept so existing implementations still fit). */
  readFileSync(path: string): Buffer;
  /** `fs.openSync`. */
  openSync(path: string, flags: number | string): number;
  /** `fs.readSync`. */
  readSync(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): number;
  /** `fs.closeSync`. */
  closeSync(fd: number): void;
}

/**
 * One path of a live tree, as {@link scanTree} saw it.
 *
 * @example
 * ```ts
 * const [root]: LiveEntry[] = await scanTree('/srv/app');
 * console.log(root.type, root.mode.toString(8));
 * ```
 */
export interface LiveEntry {
  /** `.` for the root, else relative with `/`. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** For `other`: socket, FIFO, block device, character device. */
  kind?: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** The filesystem's device number: with `ino`, the file itself. */
  dev: bigint;
  ino: bigint;
  nlink: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  target?: string;
  sha256?: string;
}

/** Joins a tree root and a relative entry path (`.` is the root). */
export function full(root: string, path: string): string {
  return path === '.' ? root : `${root}/${path}`;
}

/** The parent of a relative entry path (`.` for top-level names). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '.' : path.slice(0, slash);
}

/** Gives the event loop a turn every `every` calls, and honours an AbortSignal there. */
export class Yielder {
  private count = 0;
  constructor(private readonly signal?: AbortSignal, private readonly every = 256) {}
  async tick(): Promise<void> {
    if (++this.count % this.every !== 0) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.signal?.throwIfAborted();
  }
}

/** lstat of one path as a {@link LiveEntry} (no hash). */
export function statEntry(fs: ScanFs, root: string, path: string): LiveEntry {
  return statAt(fs, full(root, path), path);
}

/** lstat of the entry `path` of a tree, reached as `at` (its full path, or through its directory's descriptor). */
function statAt(fs: ScanFs, at: string, path: string): LiveEntry {
  const st = fs.lstatSync(at, { bigint: true });
  const base = { path, ...statFields(st) };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', target: fs.readlinkSync(at) };
  if (st.isFile()) return { ...base, type: 'file' };
  if (st.isDirectory()) return { ...base, type: 'dir' };
  const kind = st.isSocket() ? 'socket' : st.isFIFO() ? 'FIFO' : st.isBlockDevice() ? 'block device' : st.isCharacterDevice() ? 'character device' : 'special file';
  return { ...base, type: 'other', kind };
}

type Stat = ReturnType<ScanFs['lstatSync']>;

/** What a {@link LiveEntry} keeps of a stat: an lstat, or the fstat of the descriptor an entry was read through. */
function statFields(st: Pick<Stat, 'mode' | 'uid' | 'gid' | 'size' | 'dev' | 'ino' | 'nlink' | 'mtimeNs' | 'ctimeNs'>) {
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    dev: st.dev,
    ino: st.ino,
    nlink: Number(st.nlink),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}

/**
 * Walks a tree without following symlinks: parents before children, names
 * sorted. Files for which `hash(entry)` is true get their SHA-256. A missing
 * root gives an empty list.
 *
 * On the real disk every directory is opened (O_PATH|O_DIRECTORY|O_NOFOLLOW)
 * from its parent's descriptor, and what is in it is listed, looked at and
 * read through that descriptor (`/proc/self/fd/<fd>/<name>`), never by a
 * path: a directory its owner swaps for a symlink meanwhile is not followed,
 * and a file is hashed from the descriptor whose fstat then gives the
 * entry's identity, mode, owner and size, so the hash and the identity are
 * always of one file (a restore that trusts them, and its verification that
 * reuses them, cannot be shown another file's content). A directory that is
 * something else by the time it is opened, or a file that is not a regular
 * file by the time it is read (a FIFO, device or symlink swapped in), throws
 * `UnsupportedEntryError`: never followed, opened or waited on. Only the
 * root's last component is opened O_NOFOLLOW: where others can change a
 * directory above it, pass the root as a descriptor already judged
 * (`/proc/self/fd/<fd>/.`) and its path as `shownAs`, for errors.
 *
 * @example
 * ```ts
 * const live = await scanTree('/srv/app', { hash: () => true });
 * ```
 */
export async function scanTree(root: string, options: { fs?: ScanFs; hash?: (entry: LiveEntry) => boolean; signal?: AbortSignal; shownAs?: string } = {}): Promise<LiveEntry[]> {
  const fs = options.fs ?? (nodeFs as unknown as ScanFs);
  // A root reached through a descriptor (`/proc/self/fd/<fd>/.`) is named in errors by the path it was opened as.
  const shownRoot = options.shownAs ?? root;
  // An in-memory volume (unit tests), or a machine without /proc: by path.
  const throughDescriptors = fs.openSync === nodeFs.openSync && descriptorPath(0) !== undefined;
  const yielder = new Yielder(options.signal);
  const out: LiveEntry[] = [];
  let rootEntry: LiveEntry;
  try {
    rootEntry = statEntry(fs, root, '.');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw error;
  }
  /** `entry` is reached as `at`: its full path, or `/proc/self/fd/<its directory>/<name>`. */
  const visit = async (entry: LiveEntry, at: string): Promise<void> => {
    if (!throughDescriptors) {
      if (entry.type === 'file' && options.hash?.(entry)) entry.sha256 = hashFile(fs, at, entry.size);
      out.push(entry);
      await yielder.tick();
      if (entry.type !== 'dir') return;
      for (const name of fs.readdirSync(at).sort()) await visit(statAt(fs, `${at}/${name}`, child(entry, name)), `${at}/${name}`);
      return;
    }
    if (entry.type === 'file' && options.hash?.(entry)) hashScanned(entry, at, full(shownRoot, entry.path));
    if (entry.type !== 'dir') {
      out.push(entry);
      await yielder.tick();
      return;
    }
    const dir = openScannedDirectory(at, full(shownRoot, entry.path));
    try {
      Object.assign(entry, statFields(dir.stat)); // the directory listed is the one recorded
      out.push(entry);
      await yielder.tick();
      const inside = `/proc/self/fd/${dir.fd}`;
      for (const name of fs.readdirSync(inside).sort()) await visit(statAt(fs, `${inside}/${name}`, child(entry, name)), `${inside}/${name}`);
    } finally {
      nodeFs.closeSync(dir.fd);
    }
  };
  await visit(rootEntry, root);
  return out;
}

function child(entry: LiveEntry, name: string): string {
  return entry.path === '.' ? name : `${entry.path}/${name}`;
}

/**
 * Hashes the file `entry`, reached as `at` through its directory's descriptor, from one descriptor opened
 * only once it is a regular file (regular.ts), and takes the entry's stat from that descriptor's fstat: the
 * hash and the identity, mode, owner and size are then of one file, whatever was renamed over the name
 * since the lstat. No call beyond the hash's own.
 */
function hashScanned(entry: LiveEntry, at: string, shown: string): void {
  const { fd, stat } = openRegularFile(at, shown);
  try {
    entry.sha256 = hashDescriptor(nodeFs as unknown as ScanFs, fd);
    Object.assign(entry, statFields(stat));
  } finally {
    nodeFs.closeSync(fd);
  }
}

const CHUNK = 1 << 20;

/** One read buffer for every hash on this thread: hashing is synchronous, so it is never shared at once. */
let chunk: Buffer | undefined;

/**
 * SHA-256 of what an open descriptor reads from its start to its end, in 1
 * MiB chunks. Positional reads: the descriptor's own offset is neither used
 * nor moved.
 */
export function hashDescriptor(fs: ScanFs, fd: number): string {
  const hash = createHash('sha256');
  const buffer = (chunk ??= Buffer.allocUnsafe(CHUNK));
  for (let position = 0; ; ) {
    const n = fs.readSync(fd, buffer, 0, CHUNK, position);
    if (n === 0) break;
    hash.update(buffer.subarray(0, n));
    position += n;
  }
  return hash.digest('hex');
}

/**
 * SHA-256 of a file, read in 1 MiB chunks. On the real disk the file is
 * opened only when it is a regular file (regular.ts: named O_PATH|O_NOFOLLOW,
 * judged on its fstat, reopened O_NONBLOCK): a FIFO, device or symlink put
 * where the scan saw a file throws `UnsupportedEntryError`, never
 * blocks an open. An in-memory volume (tests) is opened plainly. Only the
 * last component is guarded: for a file in a tree others can change,
 * {@link scanTree} hashes through the directory's descriptor instead.
 *
 * @example
 * ```ts
 * hashFile(fs, '/srv/app/data.db', 4096);
 * ```
 */
export function hashFile(fs: ScanFs, path: string, sizeHint: number): string {
  void sizeHint; // read to its end whatever its size was; kept for callers that know it
  const fd = fs.openSync === nodeFs.openSync ? openRegularFile(path).fd : fs.openSync(path, 'r');
  try {
    return hashDescriptor(fs, fd);
  } finally {
    fs.closeSync(fd);
  }
}
