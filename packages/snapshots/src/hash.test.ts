import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { temporaryDirectory } from '@unwind/core/testing';
import { HASH_HERE_BELOW, InFlight, hashFileAsync } from './hash.js';
import { hashFile, type ScanFs } from './scan.js';
import { UnsupportedEntryError } from './errors.js';

// Hashing on worker threads must give exactly the digest of the synchronous hashFile, for every size
// around its 1 MiB chunk, with many files at once (answers never crossed), and keep errno codes.

const dir = temporaryDirectory('unwind-hash-');
afterAll(() => dir.remove());
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('hashFileAsync', () => {
  it('gives the synchronous hashFile digest for sizes around the 64 KiB threshold and the 1 MiB chunk', async () => {
    const MiB = 1 << 20;
    for (const size of [0, 1, 4096, HASH_HERE_BELOW - 1, HASH_HERE_BELOW, MiB - 1, MiB, MiB + 1, 2 * MiB, 3 * MiB + 12_345]) {
      const data = randomBytes(size);
      const path = join(dir.path, `size-${size}`);
      fs.writeFileSync(path, data);
      const digest = await hashFileAsync(path, size);
      expect(digest).toBe(sha256(data));
      expect(digest).toBe(hashFile(fs as unknown as ScanFs, path, size));
    }
  });

  it('hashes the whole file whatever size it is told (a file that grew since its stat), here or on a thread', async () => {
    const data = randomBytes(300_000);
    const path = join(dir.path, 'grew');
    fs.writeFileSync(path, data);
    expect(await hashFileAsync(path, 10)).toBe(sha256(data));
    expect(await hashFileAsync(path, 5 << 20)).toBe(sha256(data));
  });

  it('answers each of many files hashed at once with its own digest', async () => {
    const files = Array.from({ length: 40 }, (_, i) => {
      const data = randomBytes(1000 + i * 7919);
      const path = join(dir.path, `many-${i}`);
      fs.writeFileSync(path, data);
      return { path, size: data.length, digest: sha256(data) };
    });
    const digests = await Promise.all(files.map((f) => hashFileAsync(f.path, f.size)));
    expect(digests).toEqual(files.map((f) => f.digest));
  });

  it('rejects with the errno code of a missing file, refuses a directory unread, here or on a thread, and goes on hashing after', async () => {
    for (const hint of [10, HASH_HERE_BELOW, 5 << 20]) {
      await expect(hashFileAsync(join(dir.path, 'missing'), hint)).rejects.toMatchObject({ code: 'ENOENT' });
      // Only a regular file is opened for reading (regular.ts); a directory is judged on its O_PATH descriptor.
      await expect(hashFileAsync(dir.path, hint)).rejects.toMatchObject({ code: 'SNAPSHOT_UNSUPPORTED_ENTRY', context: { kind: 'directory' } });
    }
    const path = join(dir.path, 'after');
    fs.writeFileSync(path, 'after');
    expect(await hashFileAsync(path, 5 << 20)).toBe(sha256(Buffer.from('after')));
  });
});

describe('a FIFO, device or symlink where a file was scanned', () => {
  // Opened by path for reading, a FIFO blocks open() until a writer comes: for ever. The hash names it
  // O_PATH first and refuses it unopened, at once, here and on a thread (the thread gets a descriptor).
  it('is refused at once with a typed error, never waited on, here and on a thread', async () => {
    const fifo = join(dir.path, 'fifo');
    execFileSync('mkfifo', [fifo]);
    fs.writeFileSync(join(dir.path, 'target'), 'x');
    fs.symlinkSync('target', join(dir.path, 'link'));
    const started = Date.now();
    for (const hint of [10, HASH_HERE_BELOW, 5 << 20]) {
      await expect(hashFileAsync(fifo, hint)).rejects.toMatchObject({ code: 'SNAPSHOT_UNSUPPORTED_ENTRY', context: { kind: 'FIFO', swapped: true } });
      await expect(hashFileAsync('/dev/null', hint)).rejects.toMatchObject({ code: 'SNAPSHOT_UNSUPPORTED_ENTRY', context: { kind: 'character device' } });
      await expect(hashFileAsync(join(dir.path, 'link'), hint)).rejects.toMatchObject({ code: 'SNAPSHOT_UNSUPPORTED_ENTRY', context: { kind: 'symlink' } });
    }
    expect(() => hashFile(fs as unknown as ScanFs, fifo, 10)).toThrow(UnsupportedEntryError);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 20_000);
});

describe('InFlight', () => {
  const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('never runs more than its limit at once, and drain waits for all', async () => {
    const inFlight = new InFlight(3);
    let running = 0;
    let most = 0;
    const done: number[] = [];
    for (let i = 0; i < 12; i++) {
      await inFlight.add(async () => {
        most = Math.max(most, ++running);
        await later(i % 4);
        running--;
        done.push(i);
      });
    }
    await inFlight.drain();
    expect(most).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
  });

  it('throws a failed task\'s error from drain only once every started task has ended', async () => {
    const inFlight = new InFlight(4);
    let slowEnded = false;
    await inFlight.add(async () => {
      await later(30);
      slowEnded = true;
    });
    await inFlight.add(() => Promise.reject(new Error('boom')));
    await expect(inFlight.drain()).rejects.toThrow('boom');
    expect(slowEnded).toBe(true);
  });

  it('throws an earlier failure from the next add, without starting its task; settled never throws', async () => {
    const inFlight = new InFlight(1);
    await inFlight.add(() => Promise.reject(new Error('first')));
    let started = false;
    await expect(
      inFlight.add(async () => {
        started = true;
      }),
    ).rejects.toThrow('first');
    expect(started).toBe(false);
    await expect(inFlight.settled()).resolves.toBeUndefined();
  });
});
