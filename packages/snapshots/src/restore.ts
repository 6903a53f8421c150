import * as fs from 'node:fs';
import { join } from 'node:path';
import { logger, type CommandRunner } from '@unwind/core';
import { validateSnapshotSource } from './create.js';
import { makeDurable } from './durability.js';
import { RestoreVerificationError, SnapshotCorruptError, type UnsafeTreeError } from './errors.js';
import { testHooks } from './hooks.js';
import { identityOf, settleMoment, settledBefore, type Identity } from './identity.js';
import type { Manifest, ManifestEntry } from './manifest.js';
import { compareTree, planRestore, planSize, type RestorePlan } from './plan.js';
import { HASHING_IN_FLIGHT, HASH_HERE_BELOW, InFlight, hashFileAsync } from './hash.js';
import { Yielder, hashFile, scanTree, type LiveEntry, type ScanFs } from './scan.js';
import { assertPrivateStore, readManifest, snapshotDir } from './store.js';
import { RestoreTree } from './tree-safety.js';

const log = logger('snapshots');
const nodeFs = fs as unknown as ScanFs;

/**
 * Options of {@link restore}.
 *
 * @example
 * ```ts
 * const options: RestoreOptions = { store, id, checkStore: 'all' };
 * ```
 */
export interface RestoreOptions {
  store: string;
  id: string;
  /** Where the tree goes back. Default: the path the snapshot was taken of. */
  path?: string;
  /**
   * Which stored copies are hashed before anything is touched: `needed`
   * (default) — the ones this restore copies from; `all` — every one.
   * Either way the manifest's checksum is checked and the restored tree is
   * verified against every hash afterwards.
   */
  checkStore?: 'needed' | 'all';
  /**
   * Tree paths (relative, `.`-style as in the manifest) the restore must not
   * touch: someone else's changes. Nothing at such a path, below it (with
   * `andBelow`; without it only the path's own metadata is left), or above
   * it when a directory there would have to go, is changed; the rest is
   * restored and verified, and the report lists what was left.
   */
  leave?: ReadonlyArray<{ path: string; andBelow: boolean }>;
  /** Runs `sync -f` when many paths were written. */
  exec?: CommandRunner;
  signal?: AbortSignal;
}

/**
 * What {@link restore} did. The tree was verified against the manifest.
 *
 * @example
 * ```ts
 * const { rewritten, removed, unchanged }: RestoreReport = await restore({ store, id });
 * ```
 */
export interface RestoreReport {
  id: string;
  path: string;
  removed: number;
  created: number;
  rewritten: number;
  relinked: number;
  metadata: number;
  /** True when the tree already matched and nothing was written. */
  unchanged: boolean;
  /** What was left as it is because of `leave`, with the directories that could not go because of it. */
  leftAlone: Array<{ path: string; andBelow: boolean }>;
}

function blobPath(store: string, id: string, blob: string): string {
  return join(snapshotDir(store, id), 'data', blob);
}

/**
 * Hashes stored copies against the manifest; every mismatch is one problem
 * line. `checked` gets the identity of each stored copy that matched, when
 * it was the same before and after the hash and had settled: a reflink of
 * that copy made while its identity is still this one holds the hashed content.
 */
async function checkStored(store: string, id: string, entries: Iterable<ManifestEntry>, signal?: AbortSignal, checked?: Map<string, Identity>): Promise<string[]> {
  // In the manifest's order, whichever hash ends first: problems[n] is the nth stored copy's.
  const problems: Array<string | undefined> = [];
  const yielder = new Yielder(signal, 64);
  const moment = settleMoment();
  // Several stored copies are read and hashed at once (hash.ts); a problem is recorded, never thrown, so `add` cannot fail.
  const hashing = new InFlight(HASHING_IN_FLIGHT);
  try {
    for (const e of entries) {
      if (e.type !== 'file' || e.blob === undefined) continue;
      const path = blobPath(store, id, e.blob);
      const blob = e.blob;
      const n = problems.push(undefined) - 1;
      const failed = (error: unknown) => {
        problems[n] = `${e.path} (data/${blob}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
      };
      try {
        const before = fs.lstatSync(path, { bigint: true });
        const size = Number(before.size);
        const judge = (sha256: string) => {
          if (sha256 !== e.sha256) problems[n] = `${e.path} (data/${blob}): stored content does not match its sha256`;
          else if (checked) {
            const identity = settledBefore(before, moment);
            if (identity !== undefined && identity === identityOf(fs.lstatSync(path, { bigint: true }))) checked.set(blob, identity);
          }
        };
        if (size !== e.size) problems[n] = `${e.path} (data/${blob}): stored size ${size}, manifest ${e.size}`;
        // At once, here: a small file's hash costs less than a task and a thread's message.
        else if (size < HASH_HERE_BELOW) judge(hashFile(nodeFs, path, size));
        else await hashing.add(() => hashFileAsync(path, size).then(judge).catch(failed));
      } catch (error) {
        failed(error);
      }
      await yielder.tick();
    }
    await hashing.drain();
  } finally {
    await hashing.settled();
  }
  return problems.filter((line) => line !== undefined);
}

/**
 * Checks every stored copy of a snapshot against its manifest; throws
 * {@link SnapshotCorruptError} naming each bad file.
 *
 * @example
 * ```ts
 * await verifySnapshot({ store, id }); // before relying on an old snapshot
 * ```
 */
export async function verifySnapshot(options: { store: string; id: string; signal?: AbortSignal }): Promise<Manifest> {
  const manifest = readManifest(options.store, options.id);
  const problems = await checkStored(options.store, options.id, manifest.entries, options.signal);
  if (problems.length > 0) throw corrupt(options.store, options.id, problems);
  return manifest;
}

function corrupt(store: string, id: string, problems: string[]): SnapshotCorruptError {
  return new SnapshotCorruptError(`snapshot ${id} in ${store} is corrupt (${problems.length} stored file(s) do not match the manifest: ${problems.slice(0, 3).join('; ')}); nothing was restored`, {
    store,
    id,
    problems: problems.slice(0, 50),
  });
}

/**
 * Every difference between a live tree and a snapshot (all files hashed);
 * empty when the tree is exactly the snapshot.
 *
 * @example
 * ```ts
 * const differences = await diff({ store, id, path: '/srv/app/collection' });
 * ```
 */
export async function diff(options: { store: string; id: string; path?: string; signal?: AbortSignal }): Promise<string[]> {
  const manifest = readManifest(options.store, options.id);
  const live = await scanTree(options.path ?? manifest.source, { hash: () => true, ...(options.signal ? { signal: options.signal } : {}) });
  return compareTree(manifest.entries, live);
}

/**
 * Puts a tree back exactly as a snapshot holds it, then proves it.
 *
 * 1. The manifest's checksum is checked; an incomplete snapshot is refused.
 * 2. The live tree is scanned (files of the right size hashed) and only the
 *    differences are planned: extras removed, changed files rewritten,
 *    missing ones created, hard links re-made, modes, owners and mtimes set.
 * 3. The stored copies the plan needs are hashed BEFORE anything is touched:
 *    a corrupt store throws {@link SnapshotCorruptError} with the tree as it was.
 * 4. Every change goes through the open descriptor of the directory it is
 *    in (tree-safety.ts), never by path: the directory holding the tree is
 *    reached by `@unwind/files`' safe walk from `/`, each directory below
 *    it is opened from its parent with O_NOFOLLOW. So a tree others own
 *    parts of (a user's `~/.config/app`) is restored, and whatever they do
 *    to it meanwhile, nothing outside it is touched: a symlink (or anything
 *    else) where a directory was planned, a directory replaced since the
 *    scan, an unsafe path transition (a directory of another owner inside a
 *    user's), an entry of another type than planned, or a file whose owner
 *    or mode would be set in place while it may have hard links outside the
 *    tree, stops the restore with {@link UnsafeTreeError}. Files are written
 *    O_EXCL|O_NOFOLLOW to a temp name in their directory, given mode, owner
 *    and mtime on their descriptor, and renamed into place; directory
 *    mtimes are set last.
 * 5. What was written is made durable, then the whole tree is verified
 *    against the manifest: any difference throws {@link RestoreVerificationError}.
 *
 * Idempotent: a restore interrupted at any point is completed by running it
 * again. Restored: content, type, mode, owner, mtime (to the microsecond),
 * symlink targets, empty directories, hard links inside the tree. Not
 * restored: atime, xattrs, ACLs, file capabilities, and hard links to paths
 * outside the tree (a rewritten file gets a new inode).
 *
 * @example
 * ```ts
 * const report = await restore({ store: '/srv/app/.snapshots', id, path: '/srv/app/collection' });
 * console.log(report.rewritten, 'files put back');
 * ```
 */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  const { store, id, signal } = options;
  assertPrivateStore(store); // what it holds is written as root: nobody else may have planted it
  const manifest = readManifest(store, id);
  const root = options.path ?? manifest.source;
  validateSnapshotSource(root, 'restore path');
  const want = new Map(manifest.entries.map((e) => [e.path, e]));
  const scanOptions = signal ? { signal } : {};
  const live = await scanTree(root, {
    ...scanOptions,
    hash: (l) => {
      const w = want.get(l.path);
      if (w?.type !== 'file' || w.size !== l.size) return false;
      // The very file the snapshot copied, unchanged since (identity.ts): its content is the snapshot's.
      if (w.identity !== undefined && w.identity === identityOf(l)) {
        l.sha256 = w.sha256;
        return false;
      }
      return true;
    },
  });
  const { plan, leftAlone } = without(planRestore(manifest.entries, live), options.leave ?? []);
  const needed = options.checkStore === 'all' ? manifest.entries : plan.write.map((w) => want.get(w.path)!);
  const checked = new Map<string, Identity>();
  const problems = await checkStored(store, id, needed, signal, checked);
  if (problems.length > 0) throw corrupt(store, id, problems);

  const cloned = new Map<string, Identity>();
  const touched = new Set<string>();
  const report: RestoreReport = {
    id,
    path: root,
    removed: plan.remove.length,
    created: plan.mkdir.length + plan.symlink.length,
    rewritten: plan.write.length,
    relinked: plan.link.length,
    metadata: plan.meta.length,
    unchanged: planSize(plan) === 0,
    leftAlone,
  };
  if (!report.unchanged) {
    // Reached (by the safe walk) only now: the scan and the checks above only read.
    const tree = RestoreTree.open(root, live);
    try {
      await apply(store, id, tree, plan, want, touched, { checked, cloned }, signal);
      // Synced through the open directories too: a path swapped meanwhile could lead an fsync's open to a device.
      const durable = tree.durablePaths([...touched].filter((p) => want.get(p)?.type !== 'dir'), touched, plan.mkdir);
      await makeDurable(durable.anchor, durable.files, durable.dirs, { ...(options.exec ? { exec: options.exec } : {}), ...scanOptions });
    } finally {
      tree.close();
    }
  }
  await verifyAfter(manifest, root, live, touched, cloned, scanOptions, leftAlone);
  log('restored %s from snapshot %s: %o', root, id, report);
  return report;
}

/**
 * Reflinks that prove their content: `checked` holds the identity of each
 * stored copy hashed before the restore (blob name → identity); `cloned`
 * gets, for each path reflinked from such a copy while it still had that
 * identity, the restored file's identity once it is in place.
 */
interface CloneProofs {
  checked: ReadonlyMap<string, Identity>;
  cloned: Map<string, Identity>;
}

async function apply(store: string, id: string, tree: RestoreTree, plan: RestorePlan, want: Map<string, ManifestEntry>, touched: Set<string>, proofs: CloneProofs, signal?: AbortSignal): Promise<void> {
  const yielder = new Yielder(signal, 64);
  let ops = 0;
  const step = async (path: string) => {
    touched.add(path);
    testHooks.point?.('restore', ++ops);
    await yielder.tick();
  };
  // An existing path is replaced atomically (temp name, metadata, rename). A fresh one is created in
  // place with O_EXCL: cheaper, never follows anything planted there, and a crash half-way leaves a
  // file the next restore sees as wrong and rewrites (a restore is only done once it verified).
  for (const r of plan.remove) {
    tree.remove(r.path);
    await step(r.path);
  }
  for (const path of plan.mkdir) {
    tree.mkdir(path, want.get(path)!);
    await step(path);
  }
  const cloning = { canClone: true };
  for (const w of plan.write) {
    const blob = blobPath(store, id, w.blob);
    const { cloned, identity } = tree.write(w.path, w.fresh, blob, want.get(w.path)!, cloning);
    // A reflink of a stored copy that was hashed and has not changed since (same identity after
    // the clone) holds the hashed content: verification need not read it back.
    if (cloned && proofs.checked.get(w.blob) === identityOf(fs.lstatSync(blob, { bigint: true }))) proofs.cloned.set(w.path, identity);
    await step(w.path);
  }
  // A kept file that gets another name first gets its metadata: once linked into a directory others
  // can change, setMeta refuses it (another name may lead outside), and the link is already there.
  const linkedTo = new Set(plan.link.map((l) => l.to));
  const metaFirst = plan.meta.filter((path) => linkedTo.has(path));
  for (const path of metaFirst) {
    tree.setMeta(path, want.get(path)!);
    await step(path);
  }
  for (const l of plan.link) {
    tree.link(l.path, l.to, l.fresh);
    await step(l.path);
  }
  for (const s of plan.symlink) {
    tree.symlink(s.path, s.target, want.get(s.path)!, s.fresh);
    await step(s.path);
  }
  for (const path of plan.meta) {
    if (linkedTo.has(path)) continue;
    tree.setMeta(path, want.get(path)!);
    await step(path);
  }
}

/**
 * Rescans the tree and compares it with the manifest. Files are hashed
 * except: those untouched since the first scan (same device, inode, size,
 * mtime and ctime), whose hash is reused; and those the restore reflinked
 * from a checked stored copy and that still have the identity they had once
 * in place, whose content is the stored copy's (the clone's proof, see
 * `cloneOrCopy`). Their mode, owner, size and mtime are compared as always.
 */
async function verifyAfter(manifest: Manifest, root: string, first: LiveEntry[], touched: Set<string>, cloned: ReadonlyMap<string, Identity>, options: { signal?: AbortSignal }, leftAlone: ReadonlyArray<{ path: string; andBelow: boolean }>): Promise<void> {
  const earlier = new Map(first.map((e) => [e.path, e]));
  const want = new Map(manifest.entries.map((e) => [e.path, e]));
  const again = await scanTree(root, {
    ...options,
    hash: (l) => {
      const proof = cloned.get(l.path);
      if (proof !== undefined && proof === identityOf(l)) {
        l.sha256 = want.get(l.path)?.sha256;
        testHooks.provenByClone?.(l.path);
        return false;
      }
      const e = earlier.get(l.path);
      if (e?.sha256 !== undefined && !touched.has(l.path) && identityOf(e) === identityOf(l)) {
        l.sha256 = e.sha256;
        return false;
      }
      return true;
    },
  });
  const differences = compareTree(manifest.entries, again).filter((line) => !isLeft(pathOfDifference(line), leftAlone));
  if (differences.length > 0) throw new RestoreVerificationError(root, manifest.id, differences);
}

/** Whether `path` is one of `roots` or below one. */
function within(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => root === '.' || path === root || path.startsWith(`${root}/`));
}

/** Whether a restore leaves `path` alone: it is left, or below a path left with everything under it. */
function isLeft(path: string, left: ReadonlyArray<{ path: string; andBelow: boolean }>): boolean {
  return left.some((l) => l.path === path || (l.andBelow && within(path, [l.path])));
}

/** The tree path a {@link compareTree} line is about (`<path>: ...`). */
function pathOfDifference(line: string): string {
  return line.slice(0, line.indexOf(': '));
}

/**
 * The plan without anything that would change a path to leave alone: no
 * removal of it, of anything below it, or of a directory above it (that
 * directory is left too, with what is in it); no write, link, symlink,
 * directory or metadata at it or (with `andBelow`) below it; no hard link
 * to a file left alone.
 */
function without(plan: RestorePlan, leave: ReadonlyArray<{ path: string; andBelow: boolean }>): { plan: RestorePlan; leftAlone: Array<{ path: string; andBelow: boolean }> } {
  if (leave.length === 0) return { plan, leftAlone: [] };
  const left = leave.map((l) => ({ ...l }));
  for (const r of plan.remove) {
    if (isLeft(r.path, left)) continue;
    if (leave.some((l) => l.path.startsWith(`${r.path}/`) || r.path === '.')) left.push({ path: r.path, andBelow: true });
  }
  const free = (path: string) => !isLeft(path, left);
  return {
    plan: {
      remove: plan.remove.filter((r) => free(r.path)),
      mkdir: plan.mkdir.filter(free),
      write: plan.write.filter((w) => free(w.path)),
      link: plan.link.filter((l) => free(l.path) && free(l.to)),
      symlink: plan.symlink.filter((l) => free(l.path)),
      meta: plan.meta.filter(free),
    },
    leftAlone: left.sort((a, b) => (a.path < b.path ? -1 : 1)),
  };
}
