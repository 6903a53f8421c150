import * as fs from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, VerificationError, defineStep, validateAbsolutePath, type StepContext } from '@unwind/core';
import { create, validateSnapshotPaths } from './create.js';
import { remove as removeSnapshot, prune } from './retention.js';
import { restore } from './restore.js';
import { checkId, makePin, readManifest, unpin } from './store.js';

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

/**
 * Wraps "any change to this tree" in a transaction. `prepare` takes a
 * verified snapshot of `path` (reading the tree, writing only the store or
 * the journal); `do` only records it; `undo` restores the tree exactly —
 * extra files removed, changed ones put back, modes, owners, mtimes,
 * symlinks, empty directories, hard links — and verifies it against the
 * manifest's hashes. A restore that does not verify (or a corrupt snapshot)
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
    else validateAbsolutePath(a.path, { what: 'snapshot source' });
  },
  describe: (a) => `snapshot ${a.path}${a.store ? ` into ${a.store}` : ''} (restored on rollback)`,
  prepare: async (a, ctx) => {
    const blobDir = await ctx.blobs.directory();
    const journalDir = journalDirOf(blobDir, ctx);
    const store = a.store ?? blobDir;
    const pin = a.store ? makePin(ctx.transactionId.replace(/[^A-Za-z0-9._-]/g, '_'), journalDir) : undefined;
    const snap = await create({ source: a.path, store, exec: ctx.exec, signal: ctx.signal, ...(pin ? { pin } : {}) });
    return { store, id: snap.id, inJournal: a.store === undefined };
  },
  do: async (_a, before) => ({ id: before.id }),
  verify: async (_a, before) => {
    try {
      readManifest(before.store, before.id);
    } catch (error) {
      throw new VerificationError(`snapshot ${before.id} is not usable: ${(error as Error).message}`, { store: before.store, id: before.id });
    }
  },
  undo: async (a, before, _after, ctx) => {
    // Always restore, even when `do` never ran: restoring an unchanged tree changes nothing.
    await restore({ store: before.store, id: checkId(before.id), path: a.path, exec: ctx.exec, signal: ctx.signal });
  },
  commit: async (a, before, _after, ctx) => {
    if (before.inJournal) {
      if (fs.existsSync(join(before.store, before.id)) || fs.existsSync(join(before.store, `${before.id}.deleting`))) removeSnapshot(before.store, before.id, { force: true });
      return;
    }
    if (fs.existsSync(join(before.store, before.id))) unpin(before.store, before.id, ctx.transactionId.replace(/[^A-Za-z0-9._-]/g, '_'));
    prune(before.store, { keepLast: a.keepLast ?? DEFAULT_KEEP_LAST });
  },
  wouldChange: async () => false,
});
