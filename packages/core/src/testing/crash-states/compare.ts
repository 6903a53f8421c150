import * as fs from 'node:fs';
import { join } from 'node:path';
import { treeState, type TreeEntry } from '../tree.js';

/** A {@link TreeEntry} plus, for a file with several links in the tree, every path of its hard-link group. */
export type LinkedTreeEntry = TreeEntry & { links?: string[] };

/**
 * The state of a tree as the crash-state checker compares it: paths, types,
 * bytes, modes, owners, link targets, and hard-link groups.
 *
 * @example
 * ```ts
 * const before = linkedTreeState(sandbox, (p) => p === 'journal');
 * ```
 */
export function linkedTreeState(root: string, ignore: (relative: string) => boolean = () => false): LinkedTreeEntry[] {
  const entries: LinkedTreeEntry[] = treeState(root, { ignore });
  const groups = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.type !== 'file') continue;
    const st = fs.lstatSync(entry.path === '.' ? root : join(root, entry.path));
    const key = `${st.dev}.${st.ino}`; // numbers collide across filesystems
    if (st.nlink > 1) groups.set(key, [...(groups.get(key) ?? []), entry.path]);
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    for (const entry of entries) if (group.includes(entry.path)) entry.links = group;
  }
  return entries;
}

/**
 * The differences between two tree states, one line each (empty when equal).
 *
 * @example
 * ```ts
 * const diff = diffTrees(expected, actual); // ['- old.conf', '~ a.conf sha256 1f2e… -> 9c0d…']
 * ```
 */
export function diffTrees(expected: readonly LinkedTreeEntry[], actual: readonly LinkedTreeEntry[]): string[] {
  const byPath = (list: readonly LinkedTreeEntry[]) => new Map(list.map((e) => [e.path, e]));
  const want = byPath(expected);
  const have = byPath(actual);
  const lines: string[] = [];
  for (const [path, e] of want) {
    const a = have.get(path);
    if (!a) {
      lines.push(`- ${path} (${e.type}) missing`);
      continue;
    }
    for (const key of ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'links'] as const) {
      const x = JSON.stringify(e[key]);
      const y = JSON.stringify(a[key]);
      if (x !== y) lines.push(`~ ${path} ${key} ${key === 'mode' ? `${e.mode.toString(8)} -> ${a.mode.toString(8)}` : `${x} -> ${y}`}`);
    }
  }
  for (const [path, a] of have) if (!want.has(path)) lines.push(`+ ${path} (${a.type}) unexpected`);
  return lines;
}
