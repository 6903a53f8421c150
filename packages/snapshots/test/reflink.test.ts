import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { replaceFsFunction, requireHere } from '@unwind/core/testing';
import { RestoreVerificationError, create, diff, readManifest, restore } from '@unwind/snapshots';
import { testHooks } from '../src/hooks.js';
import { canMount, run, tempDir } from './helpers.js';

// A restore that reflinks a file from a stored copy hashed just before, and
// finds it unchanged once in place, does not read it back: the clone is the
// proof (all or nothing, the stored copy's exact bytes). These tests make
// the proof fail every way it can — the stored copy changed between its
// check and the clone, the restored file changed after the clone with its
// size and mtime put back, the filesystem refusing the clone — and show the
// verification still catches each. On real btrfs and xfs, on loop devices
// (mounted in the test's private mount namespace, removed afterwards).

const cleanups: Array<() => void> = [];
/** The restored files verified by the reflink's proof (not read back), for the test that set it. */
let proven: string[] = [];
afterEach(() => {
  testHooks.point = undefined;
  testHooks.provenByClone = undefined;
  cleanups.splice(0).reverse().forEach((c) => c());
});

const have = (program: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program]).status === 0;
const FILES = 6;
const BYTES = 64 * 1024;

/** A fresh filesystem on a loop device; its mount point. */
function filesystem(kind: 'btrfs' | 'xfs'): string {
  const base = tempDir('unwind-reflink-');
  cleanups.push(base.remove);
  const image = join(base.path, `${kind}.img`);
  fs.writeFileSync(image, '');
  fs.truncateSync(image, 512 * 1024 * 1024); // sparse; xfs wants 300 MiB at least
  run(kind === 'btrfs' ? ['mkfs.btrfs', '-q', '-f', image] : ['mkfs.xfs', '-q', '-f', '-m', 'reflink=1', image]);
  const mountPoint = join(base.path, 'mnt');
  fs.mkdirSync(mountPoint);
  run(['mount', '-o', 'loop', image, mountPoint]);
  cleanups.push(() => run(['umount', mountPoint]));
  return mountPoint;
}

/** A tree of FILES random files, settled (older than 50 ms, so identities are recorded), and its snapshot. */
async function snapshotted(mountPoint: string, storeDir = join(mountPoint, 'store')) {
  const tree = join(mountPoint, 'tree');
  fs.mkdirSync(tree);
  for (let i = 0; i < FILES; i++) fs.writeFileSync(join(tree, `f${i}`), randomBytes(BYTES), { mode: 0o640 });
  await new Promise((resolve) => setTimeout(resolve, 120));
  const { id } = await create({ source: tree, store: storeDir });
  // The stored copies settle too: a copy changed in the last 50 ms proves nothing (identity.ts), and its reflinks would be hashed.
  await new Promise((resolve) => setTimeout(resolve, 120));
  proven = [];
  testHooks.provenByClone = (path) => proven.push(path);
  const blobOf = (name: string) => join(storeDir, id, 'data', readManifest(storeDir, id).entries.find((e) => e.path === name)!.blob!);
  return { tree, store: storeDir, id, blobOf };
}

/** Writes other bytes of the same size into a file and puts its mtime back to the nanosecond: only its ctime shows the change. */
function changeKeepingSizeAndMtime(path: string): void {
  const before = fs.lstatSync(path, { bigint: true });
  // A clock tick later, so that even a coarse ctime moves (the identity's guard against the same tick is tested elsewhere).
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  fs.writeFileSync(path, randomBytes(Number(before.size)));
  const ns = before.mtimeNs;
  run(['touch', '-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, path]);
  const after = fs.lstatSync(path, { bigint: true });
  expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
}

async function verificationError(promise: Promise<unknown>): Promise<RestoreVerificationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RestoreVerificationError);
  return error as RestoreVerificationError;
}

for (const kind of ['btrfs', 'xfs'] as const) {
  describe(`restore by reflink on ${kind}: verified without reading the restored files back, and every failure of the proof caught`, () => {
    beforeAll(() => {
      const missing = [canMount ? '' : 'not root, or mount(8) missing', have(`mkfs.${kind}`) ? '' : `mkfs.${kind} (apt-get install -y ${kind === 'btrfs' ? 'btrfs-progs' : 'xfsprogs'})`].filter(Boolean).join('; ');
      requireHere(missing || false, `a ${kind} filesystem on a loop device`);
    });

    it('a restore of a deleted tree reflinks every file and verifies (diff finds nothing)', async () => {
      const { tree, store, id } = await snapshotted(filesystem(kind));
      fs.rmSync(tree, { recursive: true });
      const report = await restore({ store, id });
      expect(report.rewritten).toBe(FILES);
      expect(proven.sort()).toEqual(Array.from({ length: FILES }, (_, i) => `f${i}`).sort()); // none read back
      expect(await diff({ store, id })).toEqual([]);
    });

    it("a reflinked source's hash is read through the descriptor it was cloned from: its name is never opened again after the clone", async () => {
      const tree = join(filesystem(kind), 'tree');
      fs.mkdirSync(tree);
      const content = new Map([['large', randomBytes(BYTES * 2)], ['small', randomBytes(1000)]]);
      for (const [name, bytes] of content) fs.writeFileSync(join(tree, name), bytes);
      await new Promise((resolve) => setTimeout(resolve, 120)); // settled: identities recorded, so the source is what is hashed
      const events: string[] = [];
      const restoreCopy = replaceFsFunction('copyFileSync', (real) => (from: string, to: string, mode?: number) => {
        real(from, to, mode);
        events.push(`copy ${fs.readlinkSync(from)}`); // from is the descriptor's /proc/self/fd name
      });
      const restoreOpen = replaceFsFunction('openSync', (real) => (path: fs.PathLike, ...rest: unknown[]) => {
        events.push(`open ${String(path)}`);
        return real(path, ...rest);
      });
      let id: string;
      try {
        ({ id } = await create({ source: tree, store: join(tree, '..', 'store') }));
      } finally {
        restoreOpen();
        restoreCopy();
      }
      for (const name of content.keys()) {
        const file = join(tree, name);
        const copied = events.indexOf(`copy ${file}`);
        expect(copied, `${name} was copied`).toBeGreaterThanOrEqual(0);
        expect(events.slice(copied + 1)).not.toContain(`open ${file}`);
      }
      const entries = readManifest(join(tree, '..', 'store'), id).entries;
      for (const [name, bytes] of content) expect(entries.find((e) => e.path === name)?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    });

    it('a stored copy changed after it was checked and before it was cloned: the restored file is hashed, and the restore fails verification naming it', async () => {
      const { tree, store, id, blobOf } = await snapshotted(filesystem(kind));
      fs.rmSync(tree, { recursive: true });
      let done = false;
      // The first operation of the restore (making the tree's root) comes after the check of the stored copies.
      testHooks.point = (where) => {
        if (where !== 'restore' || done) return;
        done = true;
        changeKeepingSizeAndMtime(blobOf('f3'));
      };
      const error = await verificationError(restore({ store, id }));
      expect(done).toBe(true);
      expect(error.message).toMatch(/f3: sha256 [0-9a-f]{64}, expected/);
      expect(error.context.differences).toHaveLength(1);
      expect(proven).not.toContain('f3');
      expect(proven).toHaveLength(FILES - 1);
    });

    it('a restored reflink changed after its clone, with its size and mtime put back: its ctime shows it, it is hashed, and the restore fails verification naming it', async () => {
      const { tree, store, id } = await snapshotted(filesystem(kind));
      fs.rmSync(tree, { recursive: true });
      let done = false;
      testHooks.point = (where) => {
        if (where !== 'restore' || done || !fs.existsSync(join(tree, 'f2'))) return;
        done = true;
        changeKeepingSizeAndMtime(join(tree, 'f2'));
      };
      const error = await verificationError(restore({ store, id }));
      expect(done).toBe(true);
      expect(error.message).toMatch(/f2: sha256 [0-9a-f]{64}, expected/);
      expect(error.context.differences).toHaveLength(1);
      expect(proven).not.toContain('f2');
      expect(proven).toHaveLength(FILES - 1);
    });
  });
}

describe('restore where the filesystem refuses the reflink (btrfs: a NOCOW store): a plain copy, always hashed', () => {
  beforeAll(() => {
    const missing = [canMount ? '' : 'not root, or mount(8) missing', have('mkfs.btrfs') ? '' : 'mkfs.btrfs (apt-get install -y btrfs-progs)', have('chattr') ? '' : 'chattr (e2fsprogs)'].filter(Boolean).join('; ');
    requireHere(missing || false, 'a btrfs filesystem on a loop device');
  });

  it('a copied file changed after the copy, with its size and mtime put back, fails verification; a clean one verifies', async () => {
    const mountPoint = filesystem('btrfs');
    fs.mkdirSync(join(mountPoint, 'nocow'), { mode: 0o700 });
    run(['chattr', '+C', join(mountPoint, 'nocow')]);
    const { tree, store, id } = await snapshotted(mountPoint, join(mountPoint, 'nocow', 'store'));
    fs.rmSync(tree, { recursive: true });
    let done = false;
    testHooks.point = (where) => {
      if (where !== 'restore' || done || !fs.existsSync(join(tree, 'f1'))) return;
      done = true;
      changeKeepingSizeAndMtime(join(tree, 'f1'));
    };
    const error = await verificationError(restore({ store, id }));
    expect(done).toBe(true);
    expect(error.message).toMatch(/f1: sha256 [0-9a-f]{64}, expected/);
    expect(proven).toEqual([]); // no reflink, no proof: every file read back
    testHooks.point = undefined;
    await restore({ store, id }); // the next restore rewrites it
    expect(await diff({ store, id })).toEqual([]);
  });
});
