import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '@unwind/core';
import {
  RestoreVerificationError,
  SnapshotCorruptError,
  SnapshotIncompleteError,
  SnapshotNotFoundError,
  SnapshotPinnedError,
  SnapshotSourceChangedError,
  UnsupportedEntryError,
  create,
  diff,
  encodeManifest,
  list,
  pin,
  prune,
  readManifest,
  remove,
  restore,
  unpin,
  verifySnapshot,
} from '@unwind/snapshots';
import { requireHere, treeState } from '@unwind/core/testing';
import { isRoot, makeTree, mutateTree, richState, run, tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox() {
  const base = tempDir();
  cleanups.push(base.remove);
  const dir = join(base.path, 'tree');
  fs.mkdirSync(dir);
  makeTree(dir);
  return { base: base.path, dir, store: join(base.path, 'store') };
}

describe('create', () => {
  it('stores a complete snapshot: manifest with every path, type, mode, owner, size, hash, target and hard-link group', async () => {
    const s = sandbox();
    const before = richState(s.dir);
    const snap = await create({ source: s.dir, store: s.store });
    expect(richState(s.dir)).toEqual(before); // the source is only read
    const manifest = readManifest(s.store, snap.id);
    const tree = treeState(s.dir);
    expect(manifest.entries.map((e) => e.path)).toEqual(tree.map((e) => e.path));
    for (const t of tree) {
      const e = manifest.entries.find((m) => m.path === t.path)!;
      expect({ type: e.type, mode: e.mode, uid: e.uid, gid: e.gid }).toEqual({ type: t.type, mode: t.mode, uid: t.uid, gid: t.gid });
      if (t.type === 'file') expect({ size: e.size, sha256: e.sha256 }).toEqual({ size: t.size, sha256: t.sha256 });
      if (t.type === 'symlink') expect(e.target).toBe(t.target);
    }
    // the hard-link group is stored once
    const group = manifest.entries.filter((e) => e.path.endsWith('b.txt') || e.path === 'b-hardlink.txt' || e.path.endsWith('b-again.txt'));
    expect(group.filter((e) => e.blob !== undefined)).toHaveLength(1);
    expect(group.filter((e) => e.linkOf === group[0]!.path)).toHaveLength(2);
    expect(fs.statSync(s.store).mode & 0o777).toBe(0o700);
    expect(list(s.store)).toEqual([expect.objectContaining({ id: snap.id, state: 'complete', source: s.dir, entries: tree.length })]);
    await verifySnapshot({ store: s.store, id: snap.id });
  });

  it('refuses bad input before touching anything: relative paths, a store inside the tree, a tree inside the store, a file as source', async () => {
    const s = sandbox();
    await expect(create({ source: 'tree', store: s.store })).rejects.toThrow(InvalidInputError);
    await expect(create({ source: s.dir, store: join(s.dir, 'snaps') })).rejects.toThrow(/must not contain each other/);
    await expect(create({ source: join(s.store, 'x'), store: s.store })).rejects.toThrow(/must not contain each other/);
    await expect(create({ source: join(s.dir, 'a.conf'), store: s.store })).rejects.toThrow(/not a directory/);
    expect(fs.existsSync(s.store)).toBe(false);
    expect(fs.existsSync(join(s.dir, 'snaps'))).toBe(false);
  });

  it('fails with SnapshotSourceChangedError when a file or a directory changes during the copy, and leaves no half snapshot', async () => {
    const { testHooks } = await import('../src/hooks.js');
    const changes = [
      (dir: string) => fs.appendFileSync(join(dir, 'sub', 'b.txt'), 'more'), // a file not copied yet
      (dir: string) => fs.writeFileSync(join(dir, 'sub', 'new-during-copy'), 'x'), // a new entry in a directory
    ];
    for (const change of changes) {
      const s = sandbox();
      testHooks.point = (where, n) => {
        if (where === 'create' && n === 1) change(s.dir);
      };
      try {
        await expect(create({ source: s.dir, store: s.store })).rejects.toThrow(SnapshotSourceChangedError);
      } finally {
        delete testHooks.point;
      }
      expect(list(s.store)).toEqual([]);
    }
  });

  it('refuses a tree holding a FIFO, and writes nothing', async () => {
    const s = sandbox();
    run(['mkfifo', join(s.dir, 'sub', 'pipe')]);
    await expect(create({ source: s.dir, store: s.store })).rejects.toThrow(UnsupportedEntryError);
    expect(list(s.store)).toEqual([]);
  });
});

describe('restore', () => {
  it('puts back every kind of change exactly: content, extras, types, modes, owners, symlinks, empty dirs, hard links, mtimes', async () => {
    const s = sandbox();
    const before = richState(s.dir);
    const snap = await create({ source: s.dir, store: s.store });
    mutateTree(s.dir);
    expect(richState(s.dir)).not.toEqual(before);
    expect((await diff({ store: s.store, id: snap.id })).length).toBeGreaterThan(5);
    const report = await restore({ store: s.store, id: snap.id });
    expect(report.unchanged).toBe(false);
    expect(richState(s.dir)).toEqual(before);
    expect(await diff({ store: s.store, id: snap.id })).toEqual([]);
    // idempotent: a second restore finds nothing to do
    expect(await restore({ store: s.store, id: snap.id })).toMatchObject({ unchanged: true, rewritten: 0, removed: 0 });
    expect(richState(s.dir)).toEqual(before);
  });

  it('rewrites only what differs: untouched files keep their inode', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    const inode = (p: string) => fs.lstatSync(join(s.dir, p)).ino;
    const [big, conf] = [inode('sub/deeper/c.bin'), inode('a.conf')];
    fs.writeFileSync(join(s.dir, 'a.conf'), 'port = 81\n'); // same size
    const report = await restore({ store: s.store, id: snap.id });
    expect(report).toMatchObject({ rewritten: 1, removed: 0, relinked: 0 });
    expect(inode('sub/deeper/c.bin')).toBe(big);
    expect(inode('a.conf')).not.toBe(conf);
    expect(fs.readFileSync(join(s.dir, 'a.conf'), 'utf8')).toBe('port = 80\n');
  });

  it('recreates a deleted tree root, and replaces a root that became a file', async () => {
    const s = sandbox();
    const before = richState(s.dir);
    const snap = await create({ source: s.dir, store: s.store });
    fs.rmSync(s.dir, { recursive: true });
    await restore({ store: s.store, id: snap.id });
    expect(richState(s.dir)).toEqual(before);
    fs.rmSync(s.dir, { recursive: true });
    fs.writeFileSync(s.dir, 'not a directory');
    await restore({ store: s.store, id: snap.id });
    expect(richState(s.dir)).toEqual(before);
  });

  it('spreads stored copies over data/<2 hex digits>/ directories, and restores a snapshot of the older flat data/<n> layout', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    const stored = readManifest(s.store, snap.id).entries.filter((e) => e.blob !== undefined);
    expect(stored.length).toBeGreaterThan(1);
    for (const e of stored) {
      expect(e.blob).toMatch(/^[0-9a-f]{2}\/[0-9]+$/);
      expect(fs.statSync(join(snap.path, 'data', e.blob!)).size).toBe(e.size);
    }
    expect(fs.statSync(join(snap.path, 'data', stored[0]!.blob!.slice(0, 2))).mode & 0o777).toBe(0o700);
    // Rewrite it as the first format-1 snapshots were laid out: data/<n>, no shard directories.
    const path = join(snap.path, 'manifest.json');
    const manifest = readManifest(s.store, snap.id);
    for (const e of manifest.entries) {
      if (e.blob === undefined) continue;
      const flat = e.blob.split('/')[1]!;
      fs.renameSync(join(snap.path, 'data', e.blob), join(snap.path, 'data', flat));
      e.blob = flat;
    }
    fs.writeFileSync(path, encodeManifest(manifest));
    const before = richState(s.dir);
    mutateTree(s.dir);
    await restore({ store: s.store, id: snap.id });
    expect(richState(s.dir)).toEqual(before);
  });

  it('restores into another path when asked', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    const copy = join(s.base, 'copy');
    await restore({ store: s.store, id: snap.id, path: copy });
    expect(richState(copy)).toEqual(richState(s.dir));
  });

  it('refuses a corrupted stored file BEFORE touching the tree (SnapshotCorruptError)', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    const manifest = readManifest(s.store, snap.id);
    const conf = manifest.entries.find((e) => e.path === 'a.conf')!;
    fs.writeFileSync(join(snap.path, 'data', conf.blob!), 'port = 66\n'); // bit rot, same size
    mutateTree(s.dir);
    const mutated = richState(s.dir);
    const error = await restore({ store: s.store, id: snap.id }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapshotCorruptError);
    expect((error as SnapshotCorruptError).message).toMatch(/a\.conf .*does not match its sha256.*nothing was restored/);
    expect(richState(s.dir)).toEqual(mutated); // untouched
    await expect(verifySnapshot({ store: s.store, id: snap.id })).rejects.toThrow(SnapshotCorruptError);
  });

  it('names every corrupt stored file in the manifest\'s order, however the concurrent hashes end', async () => {
    const s = sandbox();
    fs.writeFileSync(join(s.dir, 'zz.txt'), 'listed after sub/deeper/c.bin');
    const snap = await create({ source: s.dir, store: s.store });
    const entries = readManifest(s.store, snap.id).entries.filter((e) => e.blob !== undefined);
    const blobOf = (path: string) => join(snap.path, 'data', entries.find((e) => e.path === path)!.blob!);
    expect(entries.map((e) => e.path).slice(-2)).toEqual(['sub/deeper/c.bin', 'zz.txt']);
    // The 3 MiB file's wrong content is found only by its hash, which ends after the next file's check:
    // that one's stored copy is gone, found at once.
    fs.writeFileSync(blobOf('sub/deeper/c.bin'), Buffer.alloc(fs.statSync(blobOf('sub/deeper/c.bin')).size));
    fs.rmSync(blobOf('zz.txt'));
    fs.truncateSync(blobOf('a.conf'), 0);
    const error = await verifySnapshot({ store: s.store, id: snap.id }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapshotCorruptError);
    const problems = (error as SnapshotCorruptError).context.problems as string[];
    expect(problems.map((p) => p.slice(0, p.indexOf(' (data/')))).toEqual(['a.conf', 'sub/deeper/c.bin', 'zz.txt']);
  });

  it('with checkStore "all", refuses a corrupt stored file even when this restore would not need it', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    const big = readManifest(s.store, snap.id).entries.find((e) => e.path === 'sub/deeper/c.bin')!;
    fs.truncateSync(join(snap.path, 'data', big.blob!), 10);
    fs.writeFileSync(join(s.dir, 'a.conf'), 'changed');
    const mutated = richState(s.dir);
    await expect(restore({ store: s.store, id: snap.id, checkStore: 'all' })).rejects.toThrow(/stored size 10/);
    expect(richState(s.dir)).toEqual(mutated);
    // the default checks what it copies from, and still verifies the whole tree afterwards
    await restore({ store: s.store, id: snap.id });
    expect(await diff({ store: s.store, id: snap.id })).toEqual([]);
  });

  it('refuses a snapshot whose manifest was tampered with, and a missing snapshot', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    const path = join(snap.path, 'manifest.json');
    fs.writeFileSync(path, fs.readFileSync(path, 'utf8').replace('"mode":416', '"mode":438'));
    await expect(restore({ store: s.store, id: snap.id })).rejects.toThrow(SnapshotCorruptError);
    await expect(restore({ store: s.store, id: '20200101T000000000Z-00000000' })).rejects.toThrow(SnapshotNotFoundError);
    await expect(restore({ store: s.store, id: '../../etc' })).rejects.toThrow(InvalidInputError);
  });

  it('refuses an incomplete snapshot (left by a crash): list shows it, restore refuses it, prune keeps it', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    // What a crash in the middle of create leaves: a .partial directory without its final rename.
    const id = '20300101T000000000Z-deadbeef';
    fs.cpSync(snap.path, join(s.store, `${id}.partial`), { recursive: true });
    fs.rmSync(join(s.store, `${id}.partial`, 'manifest.json'));
    expect(list(s.store).map((l) => [l.id, l.state])).toEqual([[snap.id, 'complete'], [id, 'incomplete']]);
    await expect(restore({ store: s.store, id })).rejects.toThrow(SnapshotIncompleteError);
    expect(prune(s.store, { keepLast: 0 })).toEqual({ deleted: [snap.id], pinned: [], incomplete: [id] });
    expect(list(s.store).map((l) => l.id)).toEqual([id]);
    remove(s.store, id); // deleted on purpose, after inspection
    expect(list(s.store)).toEqual([]);
  });

  it('a restore that cannot write (a read-only bind mount inside the tree) throws, naming EROFS', async () => {
    requireHere(isRoot ? false : 'not root', 'root');
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    fs.writeFileSync(join(s.dir, 'sub', 'b.txt'), 'changed in place\n');
    // The directory is read-only: the rewrite fails with EROFS. Mount a ro bind of the tree's `sub`.
    run(['mount', '--bind', join(s.dir, 'sub'), join(s.dir, 'sub')]);
    try {
      run(['mount', '-o', 'remount,bind,ro', join(s.dir, 'sub')]);
      const error = await restore({ store: s.store, id: snap.id }).catch((e: unknown) => e);
      expect(String((error as Error).message)).toMatch(/EROFS|read-only/);
    } finally {
      run(['umount', join(s.dir, 'sub')]);
    }
  });
});

describe('verification after restore', () => {
  it('a tree changed behind the restore (between apply and verify) fails with RestoreVerificationError', async () => {
    const s = sandbox();
    const snap = await create({ source: s.dir, store: s.store });
    fs.writeFileSync(join(s.dir, 'a.conf'), 'drift');
    const { testHooks } = await import('../src/hooks.js');
    testHooks.point = (where) => {
      if (where === 'restore') fs.writeFileSync(join(s.dir, 'other-writer'), 'a concurrent writer');
    };
    try {
      const error = await restore({ store: s.store, id: snap.id }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RestoreVerificationError);
      expect((error as RestoreVerificationError).context.differences).toContain('other-writer: extra file');
    } finally {
      delete testHooks.point;
    }
  });
});

describe('retention and pins', () => {
  it('prune keeps the newest N and never deletes a pinned snapshot; a stale pin (dead process) does not count', async () => {
    const s = sandbox();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await create({ source: s.dir, store: s.store })).id);
    pin(s.store, ids[0]!, 'long-running');
    // a pin of a process that is gone
    fs.mkdirSync(join(s.store, ids[1]!, 'pins'));
    fs.writeFileSync(join(s.store, ids[1]!, 'pins', 'ghost.json'), JSON.stringify({ name: 'ghost', pid: 2 ** 22 + 1, host: (await import('node:os')).hostname(), processStart: '1', createdAt: 'then' }), { flag: 'wx' });
    expect(list(s.store)[1]!.pins).toEqual([expect.objectContaining({ name: 'ghost', live: false })]);
    expect(() => remove(s.store, ids[0]!)).toThrow(SnapshotPinnedError);
    const report = prune(s.store, { keepLast: 1 });
    expect(report).toEqual({ deleted: [ids[1], ids[2]], pinned: [ids[0]], incomplete: [] });
    expect(list(s.store).map((l) => l.id)).toEqual([ids[0], ids[3]]);
    unpin(s.store, ids[0]!, 'long-running');
    expect(prune(s.store, { keepLast: 1 }).deleted).toEqual([ids[0]]);
    expect(() => prune(s.store, { keepLast: -1 })).toThrow(InvalidInputError);
  });

  it('a pin naming a transaction lives while its journal is unfinished', async () => {
    const s = sandbox();
    const journalDir = join(s.base, 'journal', 'tx');
    fs.mkdirSync(journalDir, { recursive: true });
    const { encodeLine } = await import('@unwind/core');
    const line = (seq: number, body: Record<string, unknown>) => encodeLine({ ...body, seq, at: 1 } as never);
    fs.writeFileSync(join(journalDir, 'journal.jsonl'), line(1, { kind: 'begin', format: 1, id: 'tx', name: 't', pid: 1, host: 'h' }));
    const { makePin } = await import('../src/store.js');
    const snap = await create({ source: s.dir, store: s.store, pin: makePin('tx', journalDir) });
    expect(list(s.store)[0]!.pins).toEqual([expect.objectContaining({ name: 'tx', live: true })]);
    expect(prune(s.store, { keepLast: 0 }).pinned).toEqual([snap.id]);
    fs.appendFileSync(join(journalDir, 'journal.jsonl'), line(2, { kind: 'end', status: 'committed' }));
    expect(prune(s.store, { keepLast: 0 }).deleted).toEqual([snap.id]);
  });
});
