import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { memoryJournal, transaction } from '@unwind/core';
import { SnapshotCreateError, create, list, snapshot } from '@unwind/snapshots';
import { canMount, makeTree, richState, run, tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));

if (!canMount) console.warn('snapshots fault tests skipped: mounting a 1 MiB tmpfs needs root');

/** A tree bigger than the store, and a store on a full-able 1 MiB tmpfs. */
function fullDisk() {
  const base = tempDir();
  cleanups.push(base.remove);
  const dir = join(base.path, 'tree');
  fs.mkdirSync(dir);
  makeTree(dir); // holds a 3 MiB file
  const store = join(base.path, 'store');
  fs.mkdirSync(store);
  run(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', store]);
  cleanups.push(() => run(['umount', store]));
  return { dir, store };
}

describe('snapshot store on a full disk (1 MiB tmpfs)', () => {
  beforeAll(() => requireHere(canMount ? false : 'not root, or mount(8) missing', 'mounting a tmpfs'));
  it('creation fails with a clear ENOSPC error, the source is untouched, and no half snapshot is left', async () => {
    const { dir, store } = fullDisk();
    const before = richState(dir);
    const error = await create({ source: dir, store }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapshotCreateError);
    expect((error as SnapshotCreateError).message).toMatch(/could not snapshot .* no space left on device in the snapshot store \(ENOSPC\)/);
    expect((error as SnapshotCreateError).context.errno).toBe('ENOSPC');
    expect(richState(dir)).toEqual(before);
    expect(list(store)).toEqual([]);
    expect(fs.readdirSync(store).filter((n) => n !== 'snapshots.lock')).toEqual([]);
  });

  it('in a transaction, the snapshot step fails in prepare: nothing after it runs, the tree is untouched', async () => {
    const { dir, store } = fullDisk();
    const before = richState(dir);
    const tx = transaction('update', { journal: memoryJournal(), handleSignals: false });
    tx.add(snapshot({ path: dir, store }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.code).toBe('SNAPSHOT_CREATE_FAILED');
    expect(richState(dir)).toEqual(before);
  });
});
