import * as fs from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UndoConflictError, UntrustedJournalError, VerificationError, defineStep, type StepContext } from '@unwind/core';
import { create, removePartial, validateSnapshotPaths, validateSnapshotSource } from './create.js';
import { changedByOthers, parseLeft, recordLeft, type ForeignChange } from './left.js';
import { prune, removeSnapshot } from './retention.js';
import type { ManifestEntry } from './manifest.js';
import { restore } from './restore.js';
import { checkId, makePin, newSnapshotId, readManifest, unpin, withStoreLock } from './store.js';

const Args = t.intersection([
  t.type({
    /** The tree to snapshot and, on rollback, restore. */
    path: t.string,
  }),
  t.partial({
    /** A snapshot store directory. Omitted: the snapshot lives in the transaction's journal and is deleted when it commits. */
    store: t.string,
    /** With `store`: after commit, keep this many newest snapshots in the store (default 5). */
    keepLast: t.number,
  }),
]);

const Before = t.type({
  /** Where the snapshot is (the store, or a directory in the journal). */
  store: t.string,
  id: t.string,
  /** True when the snapshot lives in the journal (no `store` given): commit deletes it. */
  inJournal: t.boolean,
});

const After = t.type({ id: t.string });

/**
 * Default of `keepLast` for a snapshot step with a store.
 *
 * @example
 * ```ts
 * tx.add(snapshot({ path, store })); // keeps DEFAULT_KEEP_LAST (5) snapshots after commit
 * ```
 */
export const DEFAULT_KEEP_LAST = 5;

/** The transaction directory behind a file journal's blob directory (`<root>/<tx>/blobs/<step>/tree`), if it is one. */
function journalDirOf(blobDir: string, ctx: StepContext): string | undefined {
  const candidate = resolve(blobDir, '../../..');
  return basename(candidate) === ctx.transactionId && fs.existsSync(join(candidate, 'journal.jsonl')) ? candidate : undefined;
}

/** The blob an undo writes once the tree is restored, before it deletes the snapshot from the store. */
const RESTORED = 'restored';

/** The blob `beforeRollback` writes: the tree as the transaction left it, before any undo acted. */
const LEFT = 'left.json';

/**
 * The blob naming the current restore attempt (`restore-1`, `restore-2`,
 * …): written before a restore starts, `<name>-done` once it returned. An
 * attempt without its `-done` was cut short by a crash.
 */
async function restoreAttempt(ctx: StepContext): Promise<string> {
  let n = 1;
  while (await ctx.blobs.has(`restore-${n + 1}`)) n++;
  return `restore-${n}`;
}

/**
 * The paths of the tree someone else changed since the rollback started
 * (none when nothing was recorded: a journal from before the record
 * existed, or a record cut short by a crash). Starts a new restore attempt.
 */
async function othersChanges(a: t.TypeOf<typeof Args>, before: t.TypeOf<typeof Before>, ctx: StepContext): Promise<{ foreign: ForeignChange[]; attempt?: string }> {
  const left = (await ctx.blobs.has(LEFT)) ? parseLeft(await ctx.blobs.read(LEFT)) : undefined;
  if (left === undefined) {
    ctx.log('snapshot of %s: no record of what the transaction left; the whole tree is restored', a.path);
    return { foreign: [] };
  }
  let since: bigint | undefined;
  let next = 'restore-1';
  if (await ctx.blobs.has('restore-1')) {
    const last = await restoreAttempt(ctx);
    if (!(await ctx.blobs.has(`${last}-done`))) since = BigInt((await ctx.blobs.read(last)).toString() || '0');
    next = `restore-${Number(last.slice('restore-'.length)) + 1}`;
  }
  const foreign = await changedByOthers(a.path, left, readManifest(before.store, before.id).entries, { signal: ctx.signal, ...(since === undefined ? {} : { interruptedRestoreSince: since }) });
  // When the coming restore starts, as a file time (ns): whatever it changes has a later ctime. A
  // file's ctime comes from the kernel's coarse clock, which lags the precise one by up to a tick: 50 ms spare.
  await ctx.blobs.write(next, String(BigInt(Date.now() - 50) * 1_000_000n));
  return { foreign, attempt: next };
}

/**
 * The snapshot's entries, whose identities spare reading the files nobody
 * changed since; none when it is not there (its `do` never finished) or
 * not readable (the undo reports that).
 */
function snapshotEntries(before: t.TypeOf<typeof Before>): ManifestEntry[] {
  try {
    return readManifest(before.store, before.id).entries;
  } catch {
    return [];
  }
}

/** The name of this transaction's pin on its snapshot. */
function pinName(ctx: StepContext): string {
  return ctx.transactionId.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Wraps "any change to this tree" in a transaction. `prepare` chooses the
 * snapshot's id and place (journaled before anything is written); `do`
 * takes a verified snapshot of `path` (reading the tree, writing only the
 * store or the journal); `undo` restores the tree exactly —
 * extra files removed, changed ones put back, modes, owners, mtimes,
 * symlinks, empty directories, hard links — and verifies it against the
 * manifest's hashes, then (with a `store`) deletes the snapshot, so a
 * rollback leaves the store as it was; when `do` was interrupted (a crash while the snapshot
 * was written), undo removes the `<id>.partial` directory it left. A restore that does not verify (or a corrupt snapshot)
 * makes the undo throw, so the outcome is `rollback-failed`, never a false
 * success. `commit` releases the snapshot's pin and applies retention (or,
 * for a snapshot kept in the journal, deletes it).
 *
 * Put it BEFORE the steps that change the tree. The store must not be inside
 * the tree (nor the tree inside the store).
 *
 * @example
 * ```ts
 * import { snapshot } from '@unwind/snapshots';
 * const tx = transaction('update collection', { journal: fileJournal({ root: '/var/lib/app/unwind' }) });
 * tx.add(snapshot({ path: '/srv/app/collection', store: '/srv/app/.snapshots', keepLast: 3 }));
 * tx.add(updateCollection({ dir: '/srv/app/collection' })); // arbitrary writes; any failure puts the tree back
 * const outcome = await tx.run();
 * ```
 */
export const snapshot = defineStep({
  type: 'snapshots.snapshot',
  package: '@unwind/snapshots',
  args: Args,
  before: Before,
  after: After,
  validate: (a) => {
    if (a.keepLast !== undefined && (!Number.isInteger(a.keepLast) || a.keepLast < 0)) throw new InvalidInputError('keepLast must be a whole number ≥ 0', { keepLast: a.keepLast });
    if (a.keepLast !== undefined && a.store === undefined) throw new InvalidInputError('keepLast needs a store (a snapshot in the journal is deleted on commit)', {});
    if (a.store !== undefined) validateSnapshotPaths(a.path, a.store);
    else validateSnapshotSource(a.path);
  },
  validateJournaled: (a, before, after, where) => {
    // Undo restores from, and commit deletes in, the journaled store: it must be the argument's, or inside this transaction.
    checkId(before.id);
    if (after !== undefined && after.id !== before.id) throw new UntrustedJournalError(`snapshots.snapshot: after-state names snapshot ${after.id}, not ${before.id}`, { id: before.id });
    if (before.inJournal !== (a.store === undefined)) throw new UntrustedJournalError('snapshots.snapshot: journaled inJournal contradicts the arguments', { store: before.store });
    const inside = before.store.startsWith(`${where.transactionDirectory}/`) && !before.store.split('/').includes('..');
    if (a.store === undefined ? !inside : before.store !== a.store) {
      throw new UntrustedJournalError(`snapshots.snapshot: journaled store ${before.store} is neither the step's store nor inside its transaction ${where.transactionDirectory}`, { store: before.store });
    }
  },
  describe: (a) => `snapshot ${a.path}${a.store ? ` into ${a.store}` : ''} (restored on rollback)`,
  prepare: async (a, ctx) => {
    // Only decides where the snapshot goes and its id: both are journaled before `do` writes anything,
    // so a crash while the snapshot is written leaves a `.partial` directory that undo can find.
    const root = fs.lstatSync(a.path, { throwIfNoEntry: false });
    if (!root?.isDirectory()) throw new InvalidInputError(`snapshot source ${a.path} is not a directory`, { source: a.path });
    const store = a.store ?? (await ctx.blobs.directory());
    return { store, id: newSnapshotId(), inJournal: a.store === undefined };
  },
  do: async (a, before, ctx) => {
    const journalDir = before.inJournal ? undefined : journalDirOf(await ctx.blobs.directory(), ctx);
    const pin = before.inJournal ? undefined : makePin(pinName(ctx), journalDir);
    await create({ source: a.path, store: before.store, id: before.id, exec: ctx.exec, signal: ctx.signal, ...(pin ? { pin } : {}) });
    return { id: before.id };
  },
  verify: async (_a, before) => {
    try {
      readManifest(before.store, before.id);
    } catch (error) {
      throw new VerificationError(`snapshot ${before.id} is not usable: ${(error as Error).message}`, { store: before.store, id: before.id });
    }
  },
  beforeRollback: async (a, before, _after, ctx) => {
    // Compare-and-swap for a whole tree: what the transaction left, before any undo acts, so the undo
    // can tell the transaction's changes from those someone else makes afterwards. A resumed rollback
    // keeps the first record: changes made while nothing ran (after a crash) are not the transaction's.
    if (await ctx.blobs.has(LEFT)) return;
    await ctx.blobs.write(LEFT, await recordLeft(a.path, snapshotEntries(before), ctx.signal));
  },
  undo: async (a, before, after, ctx) => {
    const complete = fs.existsSync(join(before.store, checkId(before.id)));
    // Set once the tree is restored (and synced), before the snapshot is deleted: an undo run again
    // after a crash must not take the deleted snapshot for a missing one.
    const restored = !before.inJournal && (await ctx.blobs.has(RESTORED));
    // Nothing to restore when `do` never finished (no later step ran: the tree is as it was). A
    // snapshot missing after `do` finished makes restore throw: rollback-failed.
    if (!restored && (complete || after !== undefined)) {
      const { foreign, attempt } = await othersChanges(a, before, ctx);
      await restore({ store: before.store, id: before.id, path: a.path, exec: ctx.exec, signal: ctx.signal, leave: foreign });
      if (attempt !== undefined) await ctx.blobs.write(`${attempt}-done`, '');
      if (foreign.length > 0) {
        const shown = foreign.slice(0, 5);
        throw new UndoConflictError(
          `${a.path}: ${foreign.map((f) => f.path).join(', ')}`,
          shown.map((f) => `${f.path}: ${f.left === 'nothing' ? 'nothing' : 'as this transaction left it'}`).join('; '),
          shown.map((f) => `${f.path}: ${f.now}`).join('; ') + (foreign.length > shown.length ? `; and ${foreign.length - shown.length} more` : ''),
          { path: a.path, paths: foreign.map((f) => f.path), store: before.store, id: before.id },
        );
      }
    }
    removePartial(before.store, before.id);
    if (before.inJournal) return; // deleted with the journal
    // A rollback leaves the store as it was: the snapshot this step took (and its pin) goes.
    const leftover = [before.id, `${before.id}.deleting`].some((name) => fs.existsSync(join(before.store, name)));
    if (leftover) {
      if (!restored) await ctx.blobs.write(RESTORED, before.id);
      removeSnapshot(before.store, before.id, true, true);
    } else if (restored) {
      // An earlier undo deleted it and was cut off before it released the store's lock: take the
      // stale lock over and release it, so the store is as it was.
      withStoreLock(before.store, 'delete', () => {});
    }
  },
  commit: async (a, before, _after, ctx) => {
    if (before.inJournal) {
      // In the journal: no one else takes this store's lock, and it goes with the journal (no sync of its release).
      if (fs.existsSync(join(before.store, before.id)) || fs.existsSync(join(before.store, `${before.id}.deleting`))) removeSnapshot(before.store, before.id, true, false);
      return;
    }
    if (fs.existsSync(join(before.store, before.id))) unpin(before.store, before.id, pinName(ctx));
    prune(before.store, { keepLast: a.keepLast ?? DEFAULT_KEEP_LAST });
  },
  wouldChange: async () => false,
});
