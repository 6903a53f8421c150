import * as fs from 'node:fs';
import { join } from 'node:path';
import type { ModelEntry } from './model.js';
import { inodeKey } from './inode-key.js';

/**
 * Writes a crash state onto the disk at `root` (which must exist): empties
 * it, then creates every entry — directories, files with their bytes,
 * symlinks, hard links — with its mode, owner and (files) modification
 * time. Directory modes are set last, so a 0500 directory can still be filled.
 *
 * With `keep` (a directory on the same filesystem, outside `root`), the
 * inodes that existed before the run keep their numbers from state to state,
 * as a power cut keeps them: before emptying `root`, every one still there is
 * kept in `inodes` (a file or symlink by a hard link, a directory by a
 * rename), and an entry of the state with that inode's id is made from it
 * again — linked or renamed back, its bytes and attributes rewritten in place.
 * A step that journals an inode number (a compare-and-swap undo) can then be
 * checked. An inode no state kept (its recovery removed it) is made anew.
 *
 * @example
 * ```ts
 * materialize(sandbox, reachableEntries(state), { directory: join(base, 'inodes'), ids: new Map(inodeIdentities(initial)) });
 * ```
 */
export function materialize(root: string, entries: readonly ModelEntry[], keep?: KeptInodes): void {
  const inodes = keep?.directory;
  if (keep !== undefined) keepInodes(root, keep);
  emptyKeepingMountPoints(root);
  const at = (path: string) => (path === '.' ? root : join(root, path));
  const kept = (entry: ModelEntry) => (inodes !== undefined && entry.path !== '.' && keep!.ids.has(entry.id) && fs.existsSync(join(inodes, entry.id)) ? join(inodes, entry.id) : undefined);
  const directories: ModelEntry[] = [];
  for (const entry of entries) {
    const path = at(entry.path);
    if (entry.linkTo !== undefined) {
      fs.linkSync(at(entry.linkTo), path);
      continue;
    }
    const old = kept(entry);
    if (entry.type === 'dir') {
      if (old) fs.renameSync(old, path); // emptied when it was kept
      else if (entry.path !== '.' && !isDirectory(path)) fs.mkdirSync(path, { mode: 0o700 }); // a mount point stays
      directories.push(entry);
    } else if (entry.type === 'symlink') {
      if (old) fs.linkSync(old, path); // the same id is the same target: a symlink's target never changes
      else fs.symlinkSync(entry.target ?? '', path);
      fs.lchownSync(path, entry.uid, entry.gid);
    } else {
      if (old) {
        fs.linkSync(old, path);
        fs.chmodSync(path, 0o600);
      }
      fs.writeFileSync(path, Buffer.from(entry.data ?? '', 'base64'), { mode: 0o600 }); // O_TRUNC: the same inode
      fs.chownSync(path, entry.uid, entry.gid);
      fs.chmodSync(path, entry.mode);
      if (entry.mtimeMs !== undefined) fs.utimesSync(path, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
    }
  }
  for (const entry of directories.reverse()) {
    fs.chownSync(at(entry.path), entry.uid, entry.gid);
    fs.chmodSync(at(entry.path), entry.mode);
  }
}

/**
 * Removes everything under `root` but the directories other filesystems are
 * mounted on (a sandbox spanning two filesystems): those are emptied and
 * kept, as a power cut never removes a mount point.
 */
function emptyKeepingMountPoints(root: string): void {
  // True when `path` is gone; a mount point, and each directory above one, stays.
  const remove = (path: string, parentDevice: number): boolean => {
    const st = fs.lstatSync(path);
    if (!st.isDirectory()) {
      fs.unlinkSync(path);
      return true;
    }
    let empty = true;
    for (const name of fs.readdirSync(path)) empty = remove(join(path, name), st.dev) && empty;
    if (!empty || st.dev !== parentDevice) return false;
    fs.rmdirSync(path);
    return true;
  };
  const device = fs.lstatSync(root).dev;
  for (const name of fs.readdirSync(root)) remove(join(root, name), device);
}

function isDirectory(path: string): boolean {
  try {
    return fs.lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Where {@link materialize} keeps the inodes that existed before the run:
 * `ids` maps each id (as the model names them: `i<device>.<ino>`) to what that inode
 * is ({@link inodeIdentity}). An inode number is only a name while its inode
 * lives: once freed, the kernel may hand it to a new file, which must not be
 * kept in the old inode's place.
 */
export interface KeptInodes {
  directory: string;
  ids: ReadonlyMap<string, string>;
}

/** What an inode is, beyond its number: its type, and a symlink's target (which never changes). */
export function inodeIdentity(inode: { type: 'file' | 'dir' | 'symlink'; target?: string }): string {
  return inode.type === 'symlink' ? `symlink:${inode.target ?? ''}` : inode.type;
}

/** The identities of every inode of a model, as {@link KeptInodes} takes them (an array, to pass through JSON). */
export function inodeIdentities(model: { inodes: ReadonlyMap<string, { type: 'file' | 'dir' | 'symlink'; target?: string }> }): Array<[string, string]> {
  return [...model.inodes].map(([id, inode]) => [id, inodeIdentity(inode)]);
}

/**
 * Moves the pre-existing inodes still under `root` into the keep directory
 * (named by id), deepest first: a file or symlink by a hard link, a directory
 * by a rename once its entries are dealt with (it is emptied there).
 */
function keepInodes(root: string, keep: KeptInodes): void {
  fs.mkdirSync(keep.directory, { recursive: true, mode: 0o700 });
  const visit = (path: string) => {
    const st = fs.lstatSync(path);
    const id = inodeKey(st);
    const identity = inodeIdentity(st.isDirectory() ? { type: 'dir' } : st.isSymbolicLink() ? { type: 'symlink', target: fs.readlinkSync(path, 'utf8') } : { type: 'file' });
    const keeps = path !== root && keep.ids.get(id) === identity && !fs.existsSync(join(keep.directory, id));
    if (!st.isDirectory()) {
      if (keeps) fs.linkSync(path, join(keep.directory, id));
      return;
    }
    fs.chmodSync(path, 0o700); // a 0500 directory must be emptied
    for (const name of fs.readdirSync(path)) visit(join(path, name));
    if (!keeps) return;
    fs.renameSync(path, join(keep.directory, id));
    for (const name of fs.readdirSync(join(keep.directory, id))) fs.rmSync(join(keep.directory, id, name), { recursive: true, force: true });
  };
  visit(root);
}
