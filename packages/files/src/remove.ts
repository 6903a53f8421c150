import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as t from 'io-ts';
import { isWithin, onOverlay, CommandNotFoundError, InvalidInputError, UndoConflictError, assertPrivateDirectory, removeTreeSafely, VerificationError, defineStep, syncDescriptor, syncDirectory, validateAbsolutePath, writeNewFileDurably, type StepContext } from '@unwind/core';
import { copyTree, makePrivateDirectoryAt } from './copy-tree.js';
import { checkExactly, checkWithin, stagingPathFor } from './journal-checks.js';
import { CrossDeviceError, OVERLAY_LOWER_DIRECTORY, RestoreError, UnexpectedFileTypeError, type StagedPath } from './errors.js';
import { checkSignal, lstatOrUndefined, resolvedLocation } from './fsutil.js';
import { describeFound } from './replace.js';
import { checkSameEntry, directoryIdentity, Identity, identityOfStats, inDirectory, inDirectorySync, optionalIdentity, type DirectoryHandle } from './directory-handle.js';
import { mountOf, mountsWithin, normalizeRoots, parseMountPoints, planRemoval, strayKeeps } from './plan-removal.js';

const RemoveArgs = t.intersection([
  t.type({ /** Absolute paths to remove: files, directories, symlinks (never followed). */ paths: t.array(t.string) }),
  t.partial({
    /** Paths under `paths` that must not move (with everything under them). */
    keep: t.array(t.string),
    /** An existing directory on the same filesystem in which the private staging directory is made. Default: the parent of the first path. */
    stagingDir: t.string,
    /**
     * Across filesystems, copy into staging then delete, instead of refusing with CrossDeviceError;
     * and copy every directory on an overlay filesystem (a container's root), whose lower-layer
     * directories cannot be renamed.
     */
    allowCopy: t.boolean,
    /** Timeout of the final deletion in `commit`, ms. Default one hour. */
    commitTimeoutMs: t.number,
  }),
]);

/**
 * Arguments of {@link remove}.
 *
 * @example
 * ```ts
 * const args: RemoveArgs = { paths: ['/home/alice'], keep: ['/home/alice/.ssh'], stagingDir: '/home' };
 * ```
 */
export type RemoveArgs = t.TypeOf<typeof RemoveArgs>;

const Entry = t.intersection([
  t.type({ original: t.string, staged: t.string, method: t.union([t.literal('rename'), t.literal('copy')]) }),
  /** What prepare found: the original's directory (symlinks on its path resolved) and the original itself. do moves only that entry out of that directory; undo puts it back only there. */
  t.partial({ parent: Identity, entry: Identity }),
]);
const RemoveBefore = t.intersection([t.type({
  /** The private 0700 staging directory (made by `do`). */
  staging: t.string,
  /** What moves where, decided before anything moved. */
  entries: t.array(Entry),
  kept: t.array(t.string),
  missing: t.array(t.string),
}), t.partial({
  /** The directory the staging directory is made in, as prepare found it (symlinks on its path resolved). */
  base: Identity,
})]);

/**
 * Before-state of {@link remove}: the whole plan, journaled before anything moves.
 *
 * @example
 * ```ts
 * const before: RemoveBefore = { staging: '/home/.unwind-staging-<tx>-0', entries: [{ original: '/home/alice/src', staged: '/home/.unwind-staging-<tx>-0/0', method: 'rename' }], kept: ['/home/alice/.ssh'], missing: [] };
 * ```
 */
export type RemoveBefore = t.TypeOf<typeof RemoveBefore>;
type RemoveEntry = t.TypeOf<typeof Entry>;

const nodeFs = {
  lstat: (p: string) => lstatOrUndefined(p),
  readdir: (p: string) => fs.readdirSync(p),
};

function readMountPoints(): string[] {
  try {
    return parseMountPoints(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}

/** Marker written (synced) once a cross-filesystem copy is complete; only then is the original deleted. */
const copied = (entry: RemoveEntry) => `${entry.staged}.copied`;
/** Written (durably) before undo deletes what is at a copied entry's original place to put the copy back: from then on, what is there is this undo's own work. */
const restoring = (entry: RemoveEntry) => `${entry.staged}.restoring`;

/**
 * Removes a group of paths through staging: each path is renamed into a
 * private 0700 staging directory on the same filesystem, undo renames it back
 * (milliseconds, whatever the size of the tree), and the real deletion
 * happens only in `commit`, after the transaction's commit point. A keep
 * list names paths under the group that must not move. A source on another
 * filesystem than the staging directory (or with a mount point inside) is
 * refused before anything moves with {@link CrossDeviceError}, unless
 * `allowCopy` opts into copy-then-delete. If moving back fails, the staging
 * directory stays and {@link RestoreError} lists every staged path and its
 * original place.
 *
 * @example
 * ```ts
 * import { remove } from '@unwind/files';
 * tx.add(remove({ paths: ['/home/alice', '/var/mail/alice'], keep: ['/home/alice/.ssh'] }));
 * ```
 */
export const remove = defineStep({
  type: 'files.remove',
  package: '@unwind/files',
  args: RemoveArgs,
  before: RemoveBefore,
  after: t.type({ moved: t.number }),
  validate: (a) => {
    if (a.paths.length === 0) throw new InvalidInputError('remove needs at least one path', {});
    for (const p of a.paths) {
      validateAbsolutePath(p, { what: 'path to remove' });
      if (p === '/') throw new InvalidInputError('refusing to remove /', { path: p });
    }
    for (const k of a.keep ?? []) validateAbsolutePath(k, { what: 'keep path' });
    const stray = strayKeeps(a.paths, a.keep ?? []);
    if (stray.length > 0) throw new InvalidInputError(`keep paths ${stray.join(', ')} are not under any path being removed`, { keep: stray });
    if (a.stagingDir !== undefined) {
      validateAbsolutePath(a.stagingDir, { what: 'stagingDir' });
      const inside = a.paths.find((p) => isWithin(a.stagingDir!, p));
      if (inside) throw new InvalidInputError(`stagingDir ${a.stagingDir} lies inside ${inside}, which is being removed`, { stagingDir: a.stagingDir });
    }
  },
  validateJournaled: (a, before, _after, where) => {
    // Undo renames staged entries back and commit deletes the staging directory: every path must be this step's own.
    const roots = normalizeRoots(a.paths);
    checkExactly(before.staging, stagingPathFor(a.stagingDir ?? dirname(roots[0]!), where.transactionId, where.stepIndex), 'files.remove staging directory');
    before.entries.forEach((entry, i) => {
      checkWithin(entry.original, roots, 'files.remove staged entry');
      checkExactly(entry.staged, join(before.staging, String(i)), 'files.remove staged entry');
    });
    for (const kept of before.kept) checkWithin(kept, roots, 'files.remove kept path');
    for (const missing of before.missing) checkWithin(missing, roots, 'files.remove missing path');
  },
  describe: (a) => `remove ${a.paths.join(', ')}${a.keep?.length ? ` (keeping ${a.keep.join(', ')})` : ''}`,
  prepare: async (a, ctx) => {
    const roots = normalizeRoots(a.paths);
    const base = a.stagingDir ?? dirname(roots[0]!);
    let baseSt: fs.Stats;
    try {
      baseSt = fs.statSync(base);
    } catch (error) {
      throw new UnexpectedFileTypeError(`staging location ${base} does not exist: ${(error as Error).message}`, { path: base });
    }
    if (!baseSt.isDirectory()) throw new UnexpectedFileTypeError(`staging location ${base} is not a directory`, { path: base });
    const staging = stagingPathFor(base, ctx.transactionId, ctx.stepIndex);
    const plan = planRemoval(roots, a.keep ?? [], nodeFs);
    const mounts = readMountPoints();
    const stagingMount = mountOf(fs.realpathSync(base), mounts);
    const crossing: Array<{ source: string; device: number; reason: string }> = [];
    const entries = plan.move.map((original, i): RemoveEntry => {
      const st = fs.lstatSync(original);
      // Real paths: a mount reached through a symlinked parent is still a mount inside what moves.
      const inner = mountsWithin(resolvedLocation(original), mounts);
      if (inner.length > 0) {
        throw new CrossDeviceError(`${original} is or contains mount point(s) ${inner.join(', ')}; unmount them first. Nothing was moved`, { source: original, mounts: inner });
      }
      const sourceMount = mountOf(resolvedLocation(original), mounts);
      const same = st.dev === baseSt.dev && sourceMount === stagingMount;
      if (!same) {
        crossing.push({
          source: original,
          device: st.dev,
          reason: st.dev !== baseSt.dev ? `${original} is on device ${st.dev}, the staging directory ${base} on ${baseSt.dev}` : `${original} is under mount ${sourceMount}, the staging directory ${base} under ${stagingMount} (a rename cannot cross mounts)`,
        });
      }
      const parent = directoryIdentity(dirname(original), { what: 'the directory of', follow: true });
      // A directory of an overlay's lower layer cannot be renamed (EXDEV on one filesystem), and whether
      // it comes from there cannot be told from above: with allowCopy, every overlay directory is copied.
      const copied = !same || (a.allowCopy === true && st.isDirectory() && onOverlay(original));
      return { original, staged: join(staging, String(i)), method: copied ? 'copy' : 'rename', parent, ...optionalIdentity(original) };
    });
    if (crossing.length > 0 && !a.allowCopy) {
      throw new CrossDeviceError(
        `cannot stage across filesystems: ${crossing.map((c) => c.reason).join('; ')}. Nothing was moved. Give a stagingDir on the same filesystem, or pass allowCopy: true to copy then delete`,
        { staging: base, sources: crossing.map((c) => c.source), stagingDevice: baseSt.dev },
      );
    }
    const baseIdentity = directoryIdentity(base, { what: 'the staging location', follow: true });
    return { staging, entries, kept: plan.kept, missing: plan.missing, base: baseIdentity };
  },
  do: async (a, before, ctx) => {
    checkSignal(ctx.signal);
    if (before.entries.length === 0) return { moved: 0 };
    // The staging directory is made in, and reached through, the directory prepare found; each original through its own.
    return inDirectory(dirname(before.staging), { expected: before.base, phase: 'do', follow: true, what: 'the staging location' }, async (base) => {
      // Each move syncs its original's directory; when every original is in the staging directory's
      // own, those syncs make the staging directory's entry durable too, and before anything refers to it.
      const baseSyncedByMoves = before.entries.every((entry) => dirname(entry.original) === dirname(before.staging));
      makeStaging(base, before.staging, !baseSyncedByMoves);
      return inDirectory(base.entry(basename(before.staging)), { phase: 'do', what: 'the staging directory' }, async (staging) => {
        // Judged on the descriptor everything is moved through, and recorded before anything is.
        if (!isOwnPrivateDirectory(fs.fstatSync(staging.fd, { bigint: true }))) {
          throw new UnexpectedFileTypeError(`${before.staging} is not a private directory of ours; refusing to stage into it`, { path: before.staging });
        }
        await recordStaging(ctx, staging, before.staging);
        let moved = 0;
        for (const entry of before.entries) {
          checkSignal(ctx.signal);
          // Only the entry prepare found, in the directory prepare found: a parent swapped for a
          // symlink since is refused, so nothing outside the tree is ever staged (or deleted at commit).
          const didMove = inDirectorySync(dirname(entry.original), { expected: entry.parent, phase: 'do', follow: true, what: 'the directory of' }, (dir) => {
            const original = dir.entry(basename(entry.original));
            const staged = staging.entry(basename(entry.staged));
            if (lstatOrUndefined(staged) || !lstatOrUndefined(original)) return false;
            checkSameEntry(original, entry.original, entry.entry, 'do');
            if (entry.method === 'copy') {
              // The original's deletion must be durable before the step is recorded done: a power cut
              // could otherwise bring a committed removal back, or leave undo a half-deleted original.
              if (!copyThenDelete(entry, original, staging)) return false;
              syncDirectory(dir.self);
              return true;
            }
            try {
              fs.renameSync(original, staged);
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
              if (onOverlay(original)) {
                throw new CrossDeviceError(
                  `${entry.original} cannot be renamed into ${before.staging} (EXDEV): ${OVERLAY_LOWER_DIRECTORY}. Pass allowCopy: true to copy it into staging, then delete it; undo puts back what moved`,
                  { source: entry.original, staging: before.staging, overlay: true },
                );
              }
              throw new CrossDeviceError(`${entry.original} cannot be renamed into ${before.staging} (EXDEV); undo puts back what moved`, { source: entry.original, staging: before.staging });
            }
            syncDirectory(dir.self);
            return true;
          });
          if (didMove) moved++;
        }
        syncDirectory(staging.self);
        return { moved };
      });
    });
  },
  verify: async (a, before) => {
    const left = before.entries.filter((e) => lstatOrUndefined(e.original) && !lstatOrUndefined(e.staged));
    if (left.length > 0) throw new VerificationError(`still present: ${left.map((e) => e.original).join(', ')}`, { paths: left.map((e) => e.original) });
    const gone = before.kept.filter((k) => !lstatOrUndefined(k));
    if (gone.length > 0) throw new VerificationError(`kept paths are missing: ${gone.join(', ')}`, { paths: gone });
  },
  undo: async (_a, before, after, ctx) => restore(before, after !== undefined, await recordedStaging(ctx)),
  verifyUndo: async (_a, before) => {
    // Only our own counts: a directory someone else made at the name is theirs, and undo leaves it.
    const st = lstatOrUndefined(before.staging) && fs.lstatSync(before.staging, { bigint: true });
    if (st && isOwnStaging(st)) {
      throw new VerificationError(`staging directory ${before.staging} still exists after undo`, { staging: before.staging });
    }
    const missing = before.entries.filter((e) => !lstatOrUndefined(e.original));
    if (missing.length > 0) throw new VerificationError(`not restored: ${missing.map((e) => e.original).join(', ')}`, { paths: missing.map((e) => e.original) });
  },
  commit: async (a, before, _after, ctx) => commitRemoval(before, a.commitTimeoutMs ?? 3_600_000, ctx),
  wouldChange: async (a) => a.paths.some((p) => lstatOrUndefined(p) !== undefined),
});

/** Creates the private staging directory, or accepts our own from an earlier attempt; `sync`: its entry now. */
function makeStaging(base: DirectoryHandle, staging: string, sync: boolean): void {
  const entry = base.entry(basename(staging));
  try {
    fs.mkdirSync(entry, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Only a directory nobody else could ever have put anything in: the fchmod below would hide what they had.
    if (!isOwnPrivateDirectory(fs.lstatSync(entry, { bigint: true }))) {
      throw new UnexpectedFileTypeError(`${staging} exists and is not this step's staging directory; refusing to use it`, { path: staging });
    }
  }
  inDirectorySync(entry, { phase: 'do', what: 'the staging directory' }, (dir) => fs.fchmodSync(dir.fd, 0o700));
  if (sync) syncDirectory(base.self);
  // The StrictModes rule: commit deletes everything in here, so only we may be able to change it or any directory above it.
  assertPrivateDirectory(staging, 'staging directory');
}

/** Copy (synced), mark complete (synced), then delete the original (named through its open directory). False when there was nothing to move. */
function copyThenDelete(entry: RemoveEntry, original: string, staging: DirectoryHandle): boolean {
  const staged = staging.entry(basename(entry.staged));
  const marker = staging.entry(basename(copied(entry)));
  if (!lstatOrUndefined(marker)) {
    if (!lstatOrUndefined(original)) return false;
    removeTreeSafely(staged); // a partial copy from an interrupted attempt
    copyTree(original, staged);
    syncDirectory(staging.self);
    writeNewFileDurably(marker, entry.original);
  }
  removeTreeSafely(original);
  return true;
}

/**
 * Runs `fn` with the staging directory opened through the directory prepare
 * found it in (compared by inode: a swapped parent is an UndoConflictError),
 * or with `undefined` when there is no staging directory of this step's:
 * nothing there, or a directory someone else made at its name (in a sticky
 * world-writable staging location anyone can), whose entries and markers
 * say nothing about what this step moved.
 */
function inStaging<T>(before: RemoveBefore, recorded: Identity | undefined, fn: (base: DirectoryHandle, staging: DirectoryHandle | undefined) => T): T | undefined {
  if (!fs.existsSync(dirname(before.staging))) return undefined;
  return inDirectorySync(dirname(before.staging), { expected: before.base, phase: 'undo', follow: true, what: 'the staging location' }, (base) => {
    const entry = base.entry(basename(before.staging));
    // A symlink or a file there is not ours either: never opened, and no reason to fail the rollback.
    if (!lstatOrUndefined(entry)?.isDirectory()) return fn(base, undefined);
    return inDirectorySync(entry, { phase: 'undo', what: 'the staging directory' }, (staging) => {
      // The descriptor itself is judged: what is read and moved below is what was judged.
      const st = fs.fstatSync(staging.fd, { bigint: true });
      if (isOwnStaging(st)) return fn(base, staging);
      if (recorded !== undefined && st.ino.toString() === recorded.ino) {
        // Ours, but opened to others since: what is in it may be theirs, and what we moved may be in it.
        throw new UndoConflictError(before.staging, 'the private (0700) staging directory this step made', `mode ${(st.mode & 0o7777n).toString(8)} owner ${st.uid}`, {
          staging: before.staging,
          resolve: 'check what is in it, make it private to root again (chown root, chmod 700), then run unwind recover again',
        });
      }
      return fn(base, undefined);
    });
  });
}

/** The step's blob where `do` records the staging directory it made (device and inode). */
const STAGING_RECORD = 'staging-directory';

/**
 * Records, durably and before anything moves into it, the staging directory
 * `do` made: from then on undo knows that this step made a staging
 * directory, and which. A record an earlier attempt wrote must name this
 * very directory.
 */
async function recordStaging(ctx: StepContext, staging: DirectoryHandle, path: string): Promise<void> {
  const made = identityOfStats(fs.fstatSync(staging.fd, { bigint: true }));
  const recorded = await recordedStaging(ctx);
  if (recorded === undefined) {
    await ctx.blobs.write(STAGING_RECORD, JSON.stringify(made));
    return;
  }
  if (recorded.dev !== made.dev || recorded.ino !== made.ino) {
    throw new UnexpectedFileTypeError(`${path} is not the staging directory an earlier attempt of this step made (device ${recorded.dev} inode ${recorded.ino}, now ${made.dev}/${made.ino}); refusing to use it`, { path });
  }
}

/**
 * The staging directory `do` recorded; undefined when it recorded none: it
 * stopped before, or while writing the record (a kill or power cut leaves it
 * empty or cut short), having moved nothing; or an older version ran it.
 */
async function recordedStaging(ctx: StepContext): Promise<Identity | undefined> {
  if (!(await ctx.blobs.has(STAGING_RECORD))) return undefined;
  try {
    const parsed: unknown = JSON.parse((await ctx.blobs.read(STAGING_RECORD)).toString('utf8'));
    return Identity.is(parsed) ? parsed : undefined;
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** A directory of the running user's that nobody else can read, enter or change, so nobody else put anything in it. */
function isOwnPrivateDirectory(st: fs.BigIntStats): boolean {
  return st.isDirectory() && st.uid === BigInt(process.geteuid?.() ?? 0) && (st.mode & 0o077n) === 0n;
}

/**
 * Whether the directory at the staging name is this step's: private to us.
 * Nobody else can have made it, or put anything in it: `do` checked the
 * staging location against the ancestor rule (a sticky directory lets no
 * one else rename or remove ours). Its inode is normally the one `do`
 * recorded, but is not required to be: a re-created or restored directory
 * has another (as the crash-state explorer makes every state's), and only
 * we could have made a private one of ours there. Without a record `do`
 * moved nothing (it stopped first; or an older version ran it, which
 * recorded none): a private one of ours is the empty one it left, or that
 * older version's, and is ours to empty.
 */
function isOwnStaging(st: fs.BigIntStats): boolean {
  return isOwnPrivateDirectory(st);
}

/**
 * Moves every staged path back, newest first. Idempotent: an entry whose
 * staged copy is gone is already back (or never moved). Compare-and-swap
 * first, before anything moves: a staged entry whose original place holds
 * something this step did not leave there (an admin's new file, a later
 * transaction's directory) is an {@link UndoConflictError}, and nothing is
 * moved back or overwritten. Collects every other failure and throws one
 * RestoreError that lists what is where.
 */
function restore(before: RemoveBefore, doFinished: boolean, recorded: Identity | undefined): void {
  inStaging(before, recorded, (base, staging) => {
    if (!staging) return;
    checkNothingInTheWay(before, doFinished, staging);
    const remaining: StagedPath[] = [];
    const problems: string[] = [];
    for (const entry of [...before.entries].reverse()) {
      const staged = staging.entry(basename(entry.staged));
      if (entry.method === 'rename' && !lstatOrUndefined(staged)) continue; // already back, or never moved
      if (entry.method === 'copy' && !lstatOrUndefined(staging.entry(basename(copied(entry))))) {
        removeTreeSafely(staged); // incomplete copy: the original was never touched
        continue;
      }
      try {
        inDirectorySync(dirname(entry.original), { expected: entry.parent, phase: 'undo', follow: true, what: 'the directory of' }, (dir) => {
          const original = dir.entry(basename(entry.original));
          if (entry.method === 'rename') {
            if (lstatOrUndefined(original)) throw new Error(`${entry.original} exists again`);
            fs.renameSync(staged, original);
          } else {
            copyBack(entry, dir, staging);
          }
          syncDirectory(dir.self);
        });
      } catch (error) {
        problems.push((error as Error).message);
        remaining.push({ staged: entry.staged, original: entry.original });
      }
    }
    // A rename changes two directories: the staging one too must be synced before it is removed,
    // or a power cut can keep its removal and lose the renames out of it (and everything in it).
    syncDirectory(staging.self);
    if (remaining.length > 0) throw new RestoreError(before.staging, remaining.reverse(), problems);
    removeTreeSafely(base.entry(basename(before.staging)));
    syncDirectory(base.self);
  });
}

/**
 * Throws UndoConflictError when an original place that undo would fill is
 * taken. A renamed entry left nothing behind (a rename is atomic), so
 * anything there is someone else's. A copied entry's original was deleted
 * whole once `do` finished; before that, what is there may be the rest of
 * the original this step was deleting, which undo replaces.
 */
function checkNothingInTheWay(before: RemoveBefore, doFinished: boolean, staging: DirectoryHandle): void {
  const taken = before.entries.filter((entry) => {
    const staged = lstatOrUndefined(staging.entry(basename(entry.method === 'rename' ? entry.staged : copied(entry))));
    if (!staged || !fs.existsSync(dirname(entry.original))) return false; // no place to go back to: a RestoreError below says so
    // The directory it goes back into must be the one it came from (a swapped parent is a conflict too).
    const present = inDirectorySync(dirname(entry.original), { expected: entry.parent, phase: 'undo', follow: true, what: 'the directory of' }, (dir) => lstatOrUndefined(dir.entry(basename(entry.original))) !== undefined);
    // A copy this undo was already putting back when it was interrupted (a power cut, a kill) is its own work.
    const restoringIt = entry.method === 'copy' && lstatOrUndefined(staging.entry(basename(restoring(entry)))) !== undefined;
    return present && !restoringIt && (entry.method === 'rename' || doFinished);
  });
  if (taken.length === 0) return;
  const first = taken[0]!;
  throw new UndoConflictError(first.original, `nothing (this step moved it to ${first.staged})`, describeFound(first.original, lstatOrUndefined(first.original)), {
    staging: before.staging,
    taken: taken.map((entry) => ({ original: entry.original, staged: entry.staged })),
    resolve: 'move what is now at each original place away (or keep it and remove the staged copy by hand), then run unwind recover again',
  });
}

/**
 * Copies a staged tree back beside its original place, then swaps it in (what is left of a half-deleted
 * original goes); all through the open directories. Ordered for a power cut at any point: the `restoring`
 * marker is durable before anything at the original place is deleted (a rerun then knows what is there is
 * its own), the swap is durable before the `copied` marker goes, and that marker's removal is durable
 * before the staged copy is deleted (a rerun never copies back a half-deleted staged copy).
 */
function copyBack(entry: RemoveEntry, dir: DirectoryHandle, staging: DirectoryHandle): void {
  const temp = dir.entry(`.${basename(entry.original).slice(0, 100)}.unwind-restore`);
  const original = dir.entry(basename(entry.original));
  const staged = staging.entry(basename(entry.staged));
  const marker = staging.entry(basename(restoring(entry)));
  removeTreeSafely(temp);
  // The copy is made inside a private directory of root's, not in the open: the original's directory may
  // be a user's, who could otherwise swap the copy being made for a symlink, or take a half-made file.
  const holder = makePrivateDirectoryAt(temp);
  try {
    const copy = `/proc/self/fd/${holder}/copy`;
    copyTree(staged, copy);
    syncDescriptor(holder, temp);
    syncDirectory(dir.self);
    if (!lstatOrUndefined(marker)) writeNewFileDurably(marker, entry.original);
    removeTreeSafely(original);
    fs.renameSync(copy, original);
    // A rename changes two directories: both durable before the holder goes, or a power cut could keep
    // the holder's removal and lose the rename out of it (destination first: never neither name).
    syncDirectory(dir.self);
    syncDescriptor(holder, temp);
  } finally {
    fs.closeSync(holder);
  }
  removeTreeSafely(temp); // empty now (whatever its owner put there since is theirs)
  syncDirectory(dir.self);
  fs.unlinkSync(staging.entry(basename(copied(entry))));
  syncDirectory(staging.self);
  removeTreeSafely(staged);
  fs.unlinkSync(marker);
}

async function commitRemoval(before: RemoveBefore, timeoutMs: number, ctx: StepContext): Promise<void> {
  const st = lstatOrUndefined(before.staging);
  if (!st) return;
  if (!st.isDirectory()) throw new UnexpectedFileTypeError(`${before.staging} is not this step's staging directory; not deleting it`, { path: before.staging });
  assertPrivateDirectory(before.staging, 'staging directory'); // nobody else could have swapped it, or a directory above it
  // Checked again right before deleting: something mounted inside staging since `do` is never emptied.
  const inner = mountsWithin(fs.realpathSync(before.staging), readMountPoints());
  if (inner.length > 0) {
    throw new CrossDeviceError(`staging directory ${before.staging} holds mount point(s) ${inner.join(', ')}; unmount them, then run recover again. Nothing was deleted`, { staging: before.staging, mounts: inner });
  }
  await inDirectory(dirname(before.staging), { expected: before.base, phase: 'undo', follow: true, what: 'the staging location' }, async (dir) => {
    // rm(1) is as fast as deletion gets; it reaches our staging directory through our open directory.
    try {
      await ctx.exec({ argv: ['rm', '-rf', '--one-file-system', '--', dir.entryForChild(basename(before.staging))], timeoutMs, signal: ctx.signal });
    } catch (error) {
      if (!(error instanceof CommandNotFoundError)) throw error;
      // Without rm(1): through descriptors, never a path below the staging directory (a removed directory's
      // owner, still running, could swap one inside it for a symlink under a walk by path).
      removeTreeSafely(dir.entry(basename(before.staging)));
    }
    syncDirectory(dir.self);
  });
}
