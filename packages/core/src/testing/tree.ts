import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';

/**
 * One path of a tree, as {@link treeState} records it.
 *
 * @example
 * ```ts
 * const files = treeState(dir).filter((e: TreeEntry) => e.type === 'file').map((e) => `${e.path} ${e.sha256}`);
 * ```
 */
export interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
}

/**
 * The whole state of a directory tree: every path with its type, mode,
 * owner, size, content hash and link target. Two equal states mean the tree
 * is byte-for-byte the same. Used to compare a sandbox before and after.
 *
 * @example
 * ```ts
 * const before = treeState(dir);
 * await tx.run();
 * expect(treeState(dir)).toEqual(before);
 * ```
 */
export function treeState(root: string, options: { ignore?: (relative: string) => boolean } = {}): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (relative: string) => {
    const full = relative ? join(root, relative) : root;
    const st = fs.lstatSync(full);
    const base = { path: relative || '.', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (st.isSymbolicLink()) out.push({ ...base, type: 'symlink', target: fs.readlinkSync(full) });
    else if (st.isFile()) out.push({ ...base, type: 'file', size: st.size, sha256: createHash('sha256').update(fs.readFileSync(full)).digest('hex') });
    else if (st.isDirectory()) {
      out.push({ ...base, type: 'dir' });
      for (const name of fs.readdirSync(full).sort()) {
        const child = relative ? `${relative}/${name}` : name;
        if (!options.ignore?.(child)) walk(child);
      }
    } else out.push({ ...base, type: 'other' });
  };
  walk('');
  return out;
}
