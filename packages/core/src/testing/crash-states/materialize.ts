import * as fs from 'node:fs';
import { join } from 'node:path';
import type { ModelEntry } from './model.js';

/**
 * Writes a crash state onto the disk at `root` (which must exist): empties
 * it, then creates every entry — directories, files with their bytes,
 * symlinks, hard links — with its mode, owner and (files) modification
 * time. Directory modes are set last, so a 0500 directory can still be filled.
 *
 * @example
 * ```ts
 * materialize(sandbox, reachableEntries(state));
 * ```
 */
export function materialize(root: string, entries: readonly ModelEntry[]): void {
  for (const name of fs.readdirSync(root)) fs.rmSync(join(root, name), { recursive: true, force: true });
  const at = (path: string) => (path === '.' ? root : join(root, path));
  const directories: ModelEntry[] = [];
  for (const entry of entries) {
    const path = at(entry.path);
    if (entry.linkTo !== undefined) {
      fs.linkSync(at(entry.linkTo), path);
      continue;
    }
    if (entry.type === 'dir') {
      if (entry.path !== '.') fs.mkdirSync(path, { mode: 0o700 });
      directories.push(entry);
    } else if (entry.type === 'symlink') {
      fs.symlinkSync(entry.target ?? '', path);
      fs.lchownSync(path, entry.uid, entry.gid);
    } else {
      fs.writeFileSync(path, Buffer.from(entry.data ?? '', 'base64'), { mode: 0o600 });
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
