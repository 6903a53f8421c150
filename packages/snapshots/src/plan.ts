import type { ManifestEntry } from './manifest.js';
import { parentOf, type LiveEntry } from './scan.js';

/**
 * @example
 * ```ts
 * const plan: RestorePlan = planRestore(manifest.entries, live);
 * console.log(plan.remove.length, 'extras', plan.write.length, 'files to rewrite');
 * ```
 *
 * What a restore must do to turn the live tree into the snapshot's, and
 * nothing more: files whose content and metadata already match are left
 * alone. Pure data, computed by {@link planRestore}.
 */
export interface RestorePlan {
  /** Live paths to remove (extras, or the wrong type), top-most only: a removed directory takes its contents. */
  remove: Array<{ path: string; type: LiveEntry['type'] }>;
  /** Directories to create, parents first. */
  mkdir: string[];
  /** Files to (re)write from a stored copy. `fresh`: nothing is at the path (after removals), so no temp name and rename are needed. */
  write: Array<{ path: string; blob: string; fresh: boolean }>;
  /** Hard links to (re)make: `path` becomes a link of `to` (written or kept before). */
  link: Array<{ path: string; to: string; fresh: boolean }>;
  /** Symlinks to (re)make. */
  symlink: Array<{ path: string; target: string; fresh: boolean }>;
  /** Existing or new entries whose mode, owner or mtime must be set: non-directories first, then directories deepest first. */
  meta: string[];
}

/**
 * Whether two nanosecond times fall in the same microsecond. Node (libuv)
 * sets times to the microsecond only, so a restored mtime is the original
 * truncated to the microsecond.
 *
 * @example
 * ```ts
 * sameTime(1_600_000_000_123_456_789n, 1_600_000_000_123_456_000n) // true
 * ```
 */
export function sameTime(a: bigint, b: bigint): boolean {
  return a / 1000n === b / 1000n;
}

function metaDiffers(want: ManifestEntry, live: LiveEntry): boolean {
  if (want.uid !== live.uid || want.gid !== live.gid) return true;
  if (want.type !== 'symlink' && want.mode !== live.mode) return true;
  return !sameTime(BigInt(want.mtimeNs), live.mtimeNs);
}

/**
 * Whether the live file can stay as the snapshot's: same content and the
 * snapshot's owner. A file of another owner with the right bytes is never
 * kept: its owner may hold it open or mapped shared and writable (writes
 * through a mapping clear no set-id bit), so giving that inode root's owner,
 * a set-id mode or a second name in a directory of root's would hand them
 * whatever it runs as. Rewritten, it is a new inode of root's making.
 */
function contentMatches(want: ManifestEntry, live: LiveEntry): boolean {
  if (live.uid !== want.uid || live.gid !== want.gid) return false;
  return live.type === 'file' && live.size === want.size && live.sha256 !== undefined && live.sha256 === want.sha256;
}

function depth(path: string): number {
  return path === '.' ? 0 : path.split('/').length;
}

/**
 * Compares the snapshot's manifest with a scan of the live tree (files of
 * matching size hashed) and lists the least work that restores it exactly:
 * extras removed, wrong types replaced, changed files rewritten, hard-link
 * groups re-linked, metadata set, and the mtime of every directory whose
 * entries the restore touches put back last.
 *
 * @example
 * ```ts
 * const plan = planRestore(manifest.entries, await scanTree(dir, { hash: ... }));
 * console.log(plan.write.length, 'files to rewrite');
 * ```
 */
export function planRestore(wanted: readonly ManifestEntry[], live: readonly LiveEntry[]): RestorePlan {
  const want = new Map(wanted.map((e) => [e.path, e]));
  const have = new Map(live.map((e) => [e.path, e]));
  const plan: RestorePlan = { remove: [], mkdir: [], write: [], link: [], symlink: [], meta: [] };
  const removed = new Set<string>();
  const gone = (path: string): boolean => {
    for (let p = path; ; p = parentOf(p)) {
      if (removed.has(p)) return true;
      if (p === '.') return false;
    }
  };
  for (const entry of live) {
    if (gone(entry.path)) continue;
    const w = want.get(entry.path);
    if (w === undefined || w.type !== entry.type) {
      plan.remove.push({ path: entry.path, type: entry.type });
      removed.add(entry.path);
    }
  }
  const exists = (path: string): LiveEntry | undefined => (gone(path) ? undefined : have.get(path));

  const dirty = new Set<string>(plan.remove.map((r) => parentOf(r.path)));
  const metaFiles: string[] = [];
  const metaDirs = new Set<string>();
  const changed = (path: string) => dirty.add(parentOf(path));
  // Which hard-link group owns each live inode that is kept: a second claimant must get its own inode.
  const claimed = new Map<bigint, string>();
  const keptLeaders = new Set<string>();

  for (const w of wanted) {
    const l = exists(w.path);
    if (w.type === 'dir') {
      if (!l) {
        plan.mkdir.push(w.path);
        changed(w.path);
        metaDirs.add(w.path);
      } else if (metaDiffers(w, l)) metaDirs.add(w.path);
    } else if (w.type === 'symlink') {
      if (!l || l.target !== w.target) {
        plan.symlink.push({ path: w.path, target: w.target ?? '', fresh: !l });
        changed(w.path);
      } else if (metaDiffers(w, l)) metaFiles.push(w.path);
    } else if (w.linkOf === undefined) {
      const owner = l ? claimed.get(l.ino) : undefined;
      if (l && contentMatches(w, l) && owner === undefined) {
        claimed.set(l.ino, w.path);
        keptLeaders.add(w.path);
        if (metaDiffers(w, l)) metaFiles.push(w.path);
      } else {
        plan.write.push({ path: w.path, blob: w.blob ?? '', fresh: !l });
        changed(w.path);
      }
    } else {
      const leader = have.get(w.linkOf);
      const ok = l !== undefined && l.type === 'file' && keptLeaders.has(w.linkOf) && leader !== undefined && l.ino === leader.ino;
      if (!ok) {
        plan.link.push({ path: w.path, to: w.linkOf, fresh: !l });
        changed(w.path);
      }
    }
  }
  for (const dir of dirty) if (want.get(dir)?.type === 'dir') metaDirs.add(dir);
  plan.meta = [...metaFiles, ...[...metaDirs].sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1))];
  return plan;
}

/** Number of changes a plan makes (0: the tree already matches, apart from unhashed content). */
export function planSize(plan: RestorePlan): number {
  return plan.remove.length + plan.mkdir.length + plan.write.length + plan.link.length + plan.symlink.length + plan.meta.length;
}

/**
 * Every way a live tree (all files hashed) differs from the manifest: one
 * line per difference, empty when the tree is exactly the snapshot.
 *
 * @example
 * ```ts
 * const differences = compareTree(manifest.entries, await scanTree(dir, { hash: () => true }));
 * if (differences.length) throw new Error(differences.join('\n'));
 * ```
 */
export function compareTree(wanted: readonly ManifestEntry[], live: readonly LiveEntry[]): string[] {
  const out: string[] = [];
  const have = new Map(live.map((e) => [e.path, e]));
  const want = new Map(wanted.map((e) => [e.path, e]));
  for (const l of live) if (!want.has(l.path)) out.push(`${l.path}: extra ${l.type}`);
  const groupOf = new Map<bigint, string>();
  for (const w of wanted) {
    const l = have.get(w.path);
    if (!l) {
      out.push(`${w.path}: missing ${w.type}`);
      continue;
    }
    if (l.type !== w.type) {
      out.push(`${w.path}: is a ${l.type}, expected a ${w.type}`);
      continue;
    }
    if (w.type !== 'symlink' && l.mode !== w.mode) out.push(`${w.path}: mode ${l.mode.toString(8)}, expected ${w.mode.toString(8)}`);
    if (l.uid !== w.uid || l.gid !== w.gid) out.push(`${w.path}: owner ${l.uid}:${l.gid}, expected ${w.uid}:${w.gid}`);
    if (!sameTime(l.mtimeNs, BigInt(w.mtimeNs))) out.push(`${w.path}: mtime ${l.mtimeNs}, expected ${w.mtimeNs}`);
    if (w.type === 'symlink' && l.target !== w.target) out.push(`${w.path}: link target ${JSON.stringify(l.target)}, expected ${JSON.stringify(w.target)}`);
    if (w.type === 'file') {
      if (l.size !== w.size) out.push(`${w.path}: size ${l.size}, expected ${w.size}`);
      else if (l.sha256 !== w.sha256) out.push(`${w.path}: sha256 ${l.sha256 ?? '(not hashed)'}, expected ${w.sha256}`);
      const group = w.linkOf ?? w.path;
      const owner = groupOf.get(l.ino);
      if (owner === undefined) {
        if (w.linkOf !== undefined) out.push(`${w.path}: not a hard link of ${w.linkOf}`);
        else groupOf.set(l.ino, group);
      } else if (owner !== group) out.push(`${w.path}: shares its inode with ${owner}, expected ${w.linkOf === undefined ? 'its own' : `that of ${w.linkOf}`}`);
    }
  }
  return out;
}
