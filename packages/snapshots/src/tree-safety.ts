import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import { UnwindError, isTrustedOwner, removeTreeSafely, runningUid, O_PATH } from '@unwind/core';
import { openDirectorySafely } from '@unwind/files';
import { cloneOrCopy } from './clone.js';
import { UnsafeTreeError } from './errors.js';
import { identityOf, type Identity } from './identity.js';
import type { ManifestEntry } from './manifest.js';
import { full, parentOf, type LiveEntry } from './scan.js';

/**
 * A restore acts on a live tree that others may own parts of (a user's
 * `~/.config/app`), and that they may change while it runs: between the scan
 * and a write they can swap a directory of theirs for a symlink to /etc. A
 * call by path would follow it, and root would delete, overwrite, chown or
 * chmod there. So every change here goes through the descriptor of the
 * directory it is in: Node has no `openat`, but `/proc/self/fd/<fd>/<name>`
 * is resolved by the kernel from that open directory, whatever its path
 * leads to now. Directories are opened one at a time from the tree root with
 * O_NOFOLLOW|O_DIRECTORY; a symlink (or anything else) where a directory is
 * expected is refused, never followed. The tree root itself is reached by
 * `@unwind/files`' safe walk from `/`.
 */

const DIRECTORY = O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
const GROUP_OR_OTHER_WRITE = 0o022n;

function mode(m: bigint): string {
  return (m & 0o7777n).toString(8).padStart(4, '0');
}

function kindOf(st: fs.BigIntStats | undefined): string {
  if (st === undefined) return 'nothing';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFile()) return 'a file';
  return 'a special file';
}

function typeOf(st: fs.BigIntStats): LiveEntry['type'] {
  return st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
}

const article = (type: string) => (type === 'dir' ? 'a directory' : `a ${type}`);

function fstat(fd: number): fs.BigIntStats {
  try {
    return fs.fstatSync(fd, { bigint: true });
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

function unlinkQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // Already gone, or something else is there now: neither is ours to act on.
  }
}

/** libuv sets times to the microsecond after a lossy double conversion; aim at the middle of it so the truncation lands right. */
function mtimeOf(e: ManifestEntry): number {
  const ns = BigInt(e.mtimeNs);
  return Number(ns / 1_000_000_000n) + (Number((ns % 1_000_000_000n) / 1000n) * 1000 + 500) / 1e9;
}

/**
 * Whether the open directory is what a restore's mkdir leaves: ours (root
 * or the running user's), 0700, empty. Nobody else can have put anything in
 * it, so nothing in it can be harmed by going in.
 */
function looksJustMade(fd: number, st: fs.BigIntStats): boolean {
  // Listed, not judged by its link count: btrfs counts 1 link for every directory.
  return isTrustedOwner(st.uid) && (st.mode & 0o7777n) === 0o700n && fs.readdirSync(`/proc/self/fd/${fd}`).length === 0;
}

interface OpenDirectory {
  fd: number;
  stat: fs.BigIntStats;
}

/**
 * The open directories of one restore: the tree root's parent (reached by
 * the safe walk) and every directory of the tree the restore acts in, each
 * opened from its parent's descriptor, never by path. Every method acts on
 * an entry through its directory's descriptor. Refusals are
 * {@link UnsafeTreeError}; nothing outside the tree is ever reached. Call
 * {@link RestoreTree.close} when done (also on error).
 *
 * @example
 * ```ts
 * const tree = RestoreTree.open('/home/alice/.config/app', live);
 * try {
 *   tree.remove('cache');
 *   tree.write('settings.json', false, blob, wanted, { canClone: true });
 *   tree.setMeta('.', wantedRoot);
 * } finally {
 *   tree.close();
 * }
 * ```
 */
export class RestoreTree {
  private readonly dirs = new Map<string, OpenDirectory>();
  /** Directories this restore made itself (mkdir through their parent's descriptor). */
  private readonly made = new Set<string>();
  private readonly scanned: Map<string, LiveEntry>;
  /** How many names each inode (`dev:ino`) has inside the tree, as scanned. */
  private readonly namesInside = new Map<string, number>();
  /** The inode of each file this restore wrote, by path: what a hard link to it must reach. */
  private readonly written = new Map<string, { dev: bigint; ino: bigint }>();

  private constructor(
    private readonly root: string,
    private readonly parent: OpenDirectory,
    live: readonly LiveEntry[],
  ) {
    this.scanned = new Map(live.map((e) => [e.path, e]));
    for (const e of live) if (e.type !== 'dir') this.namesInside.set(`${e.dev}:${e.ino}`, (this.namesInside.get(`${e.dev}:${e.ino}`) ?? 0) + 1);
  }

  /**
   * Reaches the directory holding `root` by the safe walk from `/`
   * (`openDirectorySafely`: a symlink on the way is followed only when
   * nobody but root or the running user could have put it there, and only
   * through safe transitions); `live` is the scan the plan was made from.
   * An unsafe way there is {@link UnsafeTreeError}.
   *
   * @example
   * ```ts
   * const tree = RestoreTree.open('/srv/app/collection', live);
   * ```
   */
  static open(root: string, live: readonly LiveEntry[]): RestoreTree {
    const above = dirname(root);
    let fd: number;
    try {
      fd = openDirectorySafely(above, { what: 'the directory holding the restored tree', pathOnly: true });
    } catch (error) {
      if (error instanceof UnwindError && (error.code === 'UNSAFE_PATH' || error.code === 'SYMLINK_REFUSED')) {
        throw new UnsafeTreeError(root, above, `the way to it is unsafe (${error.message})`, error);
      }
      throw error;
    }
    return new RestoreTree(root, { fd, stat: fstat(fd) }, live);
  }

  /** Closes every descriptor; the object is of no use after. */
  close(): void {
    for (const d of this.dirs.values()) fs.closeSync(d.fd);
    this.dirs.clear();
    fs.closeSync(this.parent.fd);
  }

  private at(path: string): string {
    return full(this.root, path);
  }

  private refuse(path: string, reason: string): never {
    throw new UnsafeTreeError(this.root, this.at(path), reason);
  }

  /** The directory an entry is in, and its name there. */
  private container(path: string): { dir: OpenDirectory; name: string } {
    if (path === '.') return { dir: this.parent, name: basename(this.root) };
    const slash = path.lastIndexOf('/');
    return { dir: this.directory(parentOf(path)), name: slash < 0 ? path : path.slice(slash + 1) };
  }

  /**
   * `/proc/self/fd/<fd of its directory>/<name>`: the entry, looked up in
   * the directory already open. Calls on it never follow a symlink on the
   * way; whether they follow one at the entry itself is the call's own
   * rule (unlink, rename, mkdir, symlink, link, lchown, lutimes do not).
   *
   * @example
   * ```ts
   * fs.unlinkSync(tree.entry('sub/old.conf')); // '/proc/self/fd/23/old.conf'
   * ```
   */
  entry(path: string): string {
    const { dir, name } = this.container(path);
    return `/proc/self/fd/${dir.fd}/${name}`;
  }

  /**
   * The directory `path` of the tree, opened (once) from its parent's
   * descriptor with O_NOFOLLOW|O_DIRECTORY. Refused when it is a symlink or
   * anything else now, is gone, is not the directory the scan saw, or when
   * going into it is an unsafe transition: from a directory owned by a user
   * other than root or the running user, only into one of that same user
   * (or one this restore made), else they could have moved a directory of
   * someone else's into theirs.
   */
  private directory(path: string): OpenDirectory {
    const known = this.dirs.get(path);
    if (known !== undefined) return known;
    const { dir: above, name } = this.container(path);
    const entry = `/proc/self/fd/${above.fd}/${name}`;
    let fd: number;
    try {
      fd = fs.openSync(entry, DIRECTORY);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') this.refuse(path, `directory ${this.at(path)} is gone since the restore planned it`);
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        const st = fs.lstatSync(entry, { bigint: true, throwIfNoEntry: false });
        this.refuse(path, `${this.at(path)} is ${kindOf(st)} now, where the restore expects a directory; it was not followed`);
      }
      throw error;
    }
    const st = fstat(fd);
    let reason: string | undefined;
    if (this.made.has(path)) {
      // Opened right after the mkdir: anything but a fresh empty directory of ours was swapped in.
      if (!looksJustMade(fd, st)) reason = `directory ${this.at(path)} is not the one the restore just made (owner uid ${st.uid}, mode ${mode(st.mode)}); someone replaced it`;
    } else if (!isTrustedOwner(above.stat.uid) && st.uid !== above.stat.uid && !(isTrustedOwner(st.uid) && looksJustMade(fd, st))) {
      // An empty 0700 directory of ours is what an interrupted restore leaves before it gives the
      // directory its owner: nothing in it to harm, so going in is safe, and completes that restore.
      reason = `directory ${this.at(path)} (owned by uid ${st.uid}) is in one owned by uid ${above.stat.uid}: an unsafe path transition (that user could have moved it there)`;
    } else {
      const seen = this.scanned.get(path);
      if (seen?.type === 'dir' && (seen.dev !== st.dev || seen.ino !== st.ino)) reason = `directory ${this.at(path)} was replaced by another since the scan`;
    }
    if (reason !== undefined) {
      fs.closeSync(fd);
      this.refuse(path, reason);
    }
    const opened = { fd, stat: st };
    this.dirs.set(path, opened);
    return opened;
  }

  /** Forgets (closes) the open directories at and below `path`: it is gone. */
  private forget(path: string): void {
    for (const [p, d] of this.dirs) {
      if (path === '.' || p === path || p.startsWith(`${path}/`)) {
        fs.closeSync(d.fd);
        this.dirs.delete(p);
      }
    }
  }

  /**
   * Removes the entry `path` (a directory with all it holds) through its
   * directory's descriptor, with core's `removeTreeSafely` (descriptors all
   * the way down, a symlink unlinked, never followed, no directory of
   * another owner emptied out of one a user owns: {@link UnsafeTreeError}).
   *
   * @example
   * ```ts
   * tree.remove('sub/extra');
   * ```
   */
  remove(path: string): void {
    const entry = this.entry(path);
    this.forget(path);
    try {
      // An extra directory a user moved in may hold root's data from outside the tree (a directory of
      // root's in her ~/.cache): the transition rule the restore walks by applies below it too.
      removeTreeSafely(entry, { refuseUnsafeTransitions: true });
    } catch (error) {
      if (error instanceof UnwindError && error.code === 'UNSAFE_PATH' && error.context['transition'] === true) {
        const { directory, owner, above } = error.context as { directory: string; owner: number; above: number };
        const reason = `directory ${directory} (owned by uid ${owner}) is in one owned by uid ${above}: an unsafe path transition (that user could have moved it there); it was not emptied, and the extra ${this.at(path)} not removed whole`;
        throw new UnsafeTreeError(this.root, this.at(path), reason, error);
      }
      throw error;
    }
  }

  /**
   * Makes the directory `path` (0700; its mode and mtime come later) and
   * gives it the owner of `e` at once: going into it from a directory of
   * that owner is then a safe transition, for this restore and for the one
   * that completes it after a crash.
   *
   * @example
   * ```ts
   * tree.mkdir('sub/new', wanted);
   * ```
   */
  mkdir(path: string, e: ManifestEntry): void {
    fs.mkdirSync(this.entry(path), { mode: 0o700 });
    this.made.add(path);
    const d = this.directory(path);
    fs.chownSync(`/proc/self/fd/${d.fd}`, e.uid, e.gid);
    d.stat = fs.fstatSync(d.fd, { bigint: true });
  }

  /**
   * Puts the stored copy `blob` at `path` with the owner, mode and mtime of
   * `e`: created O_CREAT|O_EXCL|O_NOFOLLOW (at `path` itself when `fresh`,
   * else at a temp name renamed over it, all in the open directory), filled
   * through `/proc/self/fd/<fd>` (so it reflinks where it can), and given
   * owner, mode and times on that descriptor: always the file made here,
   * whatever its owner does to the names meanwhile. Says whether it was
   * reflinked, and the file's identity once in place.
   *
   * @example
   * ```ts
   * const { cloned, identity } = tree.write('a.conf', false, '/store/ab/12', wanted, { canClone: true });
   * ```
   */
  write(path: string, fresh: boolean, blob: string, e: ManifestEntry, cloning: { canClone: boolean }): { cloned: boolean; identity: Identity } {
    const target = this.entry(path);
    const made = fresh ? target : this.temp(path);
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
    const out = fs.openSync(made, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      let cloned: boolean;
      try {
        cloned = cloneOrCopy(blob, `/proc/self/fd/${out}`, cloning, { exclusive: false });
        fs.fchownSync(out, e.uid, e.gid);
        fs.fchmodSync(out, e.mode); // after chown: chown clears set-id bits
        fs.futimesSync(out, Date.now() / 1000, mtimeOf(e));
        if (!fresh) fs.renameSync(made, target);
      } catch (error) {
        if (!fresh) unlinkQuietly(made);
        throw error;
      }
      // After the rename: it changes the ctime, part of the identity.
      const st = fs.fstatSync(out, { bigint: true });
      this.written.set(path, { dev: st.dev, ino: st.ino });
      return { cloned, identity: identityOf(st) };
    } finally {
      fs.closeSync(out);
    }
  }

  /**
   * Makes `path` a hard link of the tree's `to` (both reached through
   * their directories' descriptors; link(2) never follows either). The new
   * name must reach the file this restore wrote at `to`, or the one the scan
   * saw there: link(2) takes whatever is at the name by then, and the owner
   * of `to`'s directory could have renamed a file of hers there, which the
   * link would have given a second name in a directory of root's (her
   * content, which she can still change, under a name root trusts: in a
   * restored /usr/local/sbin, a program root runs). Else the name is
   * removed again and the restore refused.
   *
   * @example
   * ```ts
   * tree.link('b-hardlink.txt', 'sub/b.txt', false);
   * ```
   */
  link(path: string, to: string, fresh: boolean): void {
    const from = this.entry(to);
    const target = this.entry(path);
    const made = fresh ? target : this.temp(path);
    try {
      fs.linkSync(from, made);
      this.checkLinked(made, path, to);
      this.countName(made);
      if (!fresh) fs.renameSync(made, target);
    } finally {
      if (!fresh) unlinkQuietly(made); // a rename onto another name of the same inode leaves it
    }
  }

  /** Removes the link just made at `entry` and refuses, unless it reaches the file expected at `to`. */
  private checkLinked(entry: string, path: string, to: string): void {
    const expected = this.written.get(to) ?? this.scanned.get(to);
    const st = fs.lstatSync(entry, { bigint: true });
    if (expected !== undefined && st.isFile() && st.dev === expected.dev && st.ino === expected.ino) return;
    unlinkQuietly(entry);
    this.refuse(path, `${this.at(to)} is not the file the restore put there or found (${st.isFile() ? `inode ${st.ino}` : kindOf(st)}); someone replaced it, and no link to it was made`);
  }

  /** One more name inside the tree for the inode at `entry` (a link this restore made). */
  private countName(entry: string): void {
    const st = fs.lstatSync(entry, { bigint: true, throwIfNoEntry: false });
    if (st === undefined || st.isDirectory()) return;
    const key = `${st.dev}:${st.ino}`;
    this.namesInside.set(key, (this.namesInside.get(key) ?? 0) + 1);
  }

  /**
   * Makes `path` a symlink to `target` with the owner and mtime of `e`.
   *
   * @example
   * ```ts
   * tree.symlink('link-rel', 'a.conf', wanted, false);
   * ```
   */
  symlink(path: string, target: string, e: ManifestEntry, fresh: boolean): void {
    const final = this.entry(path);
    const made = fresh ? final : this.temp(path);
    try {
      fs.symlinkSync(target, made);
      // Made by the running user: anything else there now was put there by someone else.
      this.setMetaAt(made, path, e, { justMade: true });
      if (!fresh) fs.renameSync(made, final);
    } catch (error) {
      if (!fresh) unlinkQuietly(made);
      throw error;
    }
  }

  /**
   * Gives the existing entry `path` the owner, mode (not for a symlink) and
   * mtime of `e`, on a descriptor of that very entry: it is named
   * O_PATH|O_NOFOLLOW through its directory, judged on that descriptor's
   * fstat, and changed through `/proc/self/fd/<fd>`, which reaches that inode
   * (a symlink itself, not its target). Refused when it is not of the type
   * planned, not the inode the scan saw, or a file with hard links that may
   * be outside the tree (more names than the scan found in the tree, or any
   * other name when its directory is one others can change: then a name
   * could be a file its owner does not own, like a link to /etc/shadow).
   *
   * @example
   * ```ts
   * tree.setMeta('sub', wanted); // a directory's owner, mode and mtime
   * ```
   */
  setMeta(path: string, e: ManifestEntry): void {
    this.setMetaAt(this.entry(path), path, e, { justMade: false });
  }

  private setMetaAt(entry: string, path: string, e: ManifestEntry, how: { justMade: boolean }): void {
    let fd: number;
    try {
      fd = fs.openSync(entry, O_PATH | fs.constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') this.refuse(path, `${this.at(path)} is gone since the restore planned it`);
      throw error;
    }
    try {
      const st = fstat(fd);
      this.judge(path, e, st, how);
      const named = `/proc/self/fd/${fd}`;
      fs.chownSync(named, e.uid, e.gid);
      if (e.type !== 'symlink') fs.chmodSync(named, e.mode); // after chown: chown clears set-id bits
      fs.utimesSync(named, Date.now() / 1000, mtimeOf(e));
    } finally {
      fs.closeSync(fd);
    }
  }

  private judge(path: string, e: ManifestEntry, st: fs.BigIntStats, how: { justMade: boolean }): void {
    const at = this.at(path);
    const type = typeOf(st);
    if (type !== e.type) this.refuse(path, `${at} is ${article(type)} now, where the restore planned ${article(e.type)}; its owner and mode were not changed`);
    if (how.justMade) {
      if (st.uid !== BigInt(runningUid()) || st.nlink !== 1n) this.refuse(path, `${at} is not the ${e.type} the restore just made (owner uid ${st.uid}, ${st.nlink} link(s)); someone replaced it`);
      return;
    }
    const seen = this.scanned.get(path);
    if (!this.made.has(path) && seen !== undefined && seen.type === type && (seen.dev !== st.dev || seen.ino !== st.ino)) {
      this.refuse(path, `${at} was replaced by another ${e.type} since the scan; its owner and mode were not changed`);
    }
    if (type === 'file' && (st.uid !== BigInt(e.uid) || st.gid !== BigInt(e.gid))) {
      // The plan rewrites such a file; one that got another owner since (a chgrp) may be held open or
      // mapped writable by that owner, who would then write into a file of root's, or a set-id one.
      this.refuse(path, `${at} is owned by ${st.uid}:${st.gid} now, not ${e.uid}:${e.gid} as the snapshot has it; its owner and mode were not changed in place`);
    }
    if (type === 'dir' || st.nlink <= 1n) return;
    const { dir } = this.container(path);
    const parentPrivate = dir.stat.uid === BigInt(runningUid()) && (dir.stat.mode & GROUP_OR_OTHER_WRITE) === 0n;
    if (!parentPrivate) {
      this.refuse(path, `${at} has ${st.nlink} hard links and its directory can be changed by someone else (owner uid ${dir.stat.uid}, mode ${mode(dir.stat.mode)}): another name may be a file its owner does not own; refusing to change its mode or owner in place`);
    }
    const inside = BigInt(this.namesInside.get(`${st.dev}:${st.ino}`) ?? 0);
    if (st.nlink > inside) {
      this.refuse(path, `${at} has ${st.nlink} hard links, ${st.nlink - inside} of them outside the tree (another name may be a file its owner does not own); refusing to change its mode or owner in place`);
    }
  }

  /** A new temp name in the directory of `path`, as an entry of that open directory. */
  private temp(path: string): string {
    const { dir } = this.container(path);
    return `/proc/self/fd/${dir.fd}/.unwind-restore-${randomBytes(6).toString('hex')}`;
  }

  /**
   * What to make durable, as paths through the open directories (so a
   * later swap cannot redirect an fsync's open to a device elsewhere):
   * `files` and the directories holding `touched` entries, plus `mkdirs`,
   * and an anchor for `sync -f` naming the tree root's descriptor for a
   * child process (`/proc/<pid>/fd/<fd>`).
   *
   * @example
   * ```ts
   * const { files, dirs, anchor } = tree.durablePaths(fileList, touched, plan.mkdir);
   * ```
   */
  durablePaths(files: Iterable<string>, touched: Iterable<string>, mkdirs: Iterable<string>): { files: string[]; dirs: string[]; anchor: string } {
    const dirs = new Set<string>();
    const dirPath = (d: OpenDirectory) => `/proc/self/fd/${d.fd}/.`;
    for (const p of touched) dirs.add(dirPath(this.container(p).dir));
    for (const p of mkdirs) dirs.add(dirPath(this.directory(p)));
    return { files: [...files].map((p) => this.entry(p)), dirs: [...dirs], anchor: `/proc/${process.pid}/fd/${this.directory('.').fd}` };
  }
}
