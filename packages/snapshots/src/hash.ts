import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { openRegularFile } from './regular.js';
import { hashDescriptor, hashFile, type ScanFs } from './scan.js';

/**
 * What each hashing thread runs: the digest of scan.ts's `hashFile` (a
 * file read to its end in 1 MiB chunks), synchronous, answering
 * `{ id, sha256 }` or `{ id, error }`. Plain CommonJS evaluated by the
 * worker, so that no bundler has to know of a second entry file.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const CHUNK = 1 << 20;
// One buffer for every file, read into again and again: a fresh one per file costs a page fault per 4 KiB.
const buffer = Buffer.allocUnsafe(CHUNK);
// The file comes as a descriptor the calling thread opened after checking it is a regular file
// (regular.ts): opened here by path, a FIFO swapped in would block this thread for ever. It is read
// from offset 0 and closed by the calling thread once this answers.
function hash(fd) {
  const h = createHash('sha256');
  for (let position = 0; ; ) {
    const n = fs.readSync(fd, buffer, 0, CHUNK, position);
    if (n === 0) break;
    h.update(buffer.subarray(0, n));
    position += n;
  }
  return h.digest('hex');
}
parentPort.on('message', ({ id, fd }) => {
  try {
    parentPort.postMessage({ id, sha256: hash(fd) });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

/** How many hashing threads: one per core, at most 4 (beyond that the disk, not the hash, is the limit). */
const THREADS = Math.max(1, Math.min(4, availableParallelism()));

/**
 * How many files are hashed at once: two per thread, so that each has its
 * next file queued while it answers the last. Each thread reads into one
 * 1 MiB buffer, whatever the files' sizes.
 */
export const HASHING_IN_FLIGHT = THREADS * 2;

/**
 * Files smaller than this are hashed on the calling thread: a message to a
 * hashing thread and its answer cost the event loop about 20 µs, more than
 * reading and hashing 64 KiB here (a tree of 20,000 files of 1 KiB must not
 * pay for threads it cannot use).
 */
export const HASH_HERE_BELOW = 64 * 1024;

/** Hashing threads are ended this long after their last file: a restore soon after a snapshot reuses them. */
const IDLE_MS = 2000;

interface Job {
  resolve(sha256: string): void;
  reject(error: Error): void;
}

interface Thread {
  worker: Worker;
  jobs: Map<number, Job>;
}

/**
 * A few worker threads that read and hash files. One thread hashes about
 * 1.6 GB/s: the hash, not the clone, is most of a reflinked snapshot's or
 * restore's time, and it ran on the event loop's thread alone. In workers it
 * uses every core, and the event loop copies or checks the next files
 * meanwhile and stays responsive. (WebCrypto's digest on libuv's pool was
 * measured too: it copies each file's bytes and wipes the copy, and a
 * promise-based read costs 4 thread-pool round trips per file.)
 */
class HashThreads {
  private readonly threads: Thread[] = [];
  private next = 1;
  private idle: NodeJS.Timeout | undefined;
  /** False once threads could not be made here: hash on this thread instead. */
  private usable = true;

  hash(path: string, size: number): Promise<string> {
    const here = () => Promise.resolve().then(() => hashFile(fs as unknown as ScanFs, path, size));
    if (size < HASH_HERE_BELOW) return here();
    clearTimeout(this.idle);
    const thread = this.usable ? this.pick() : undefined;
    if (thread === undefined) return here();
    let fd: number;
    try {
      fd = openRegularFile(path).fd; // a FIFO, device or symlink is refused here, never opened by the thread
    } catch (error) {
      return Promise.reject(error as Error);
    }
    // Closed once the thread answered (or died): not before, it is reading it.
    return this.send(thread, fd, () => fs.closeSync(fd));
  }

  /** The hash of the open regular file `fd`, which the caller keeps open until the answer and closes. */
  hashOpen(fd: number, size: number): Promise<string> {
    const here = () => Promise.resolve().then(() => hashDescriptor(fs as unknown as ScanFs, fd));
    if (size < HASH_HERE_BELOW) return here();
    clearTimeout(this.idle);
    const thread = this.usable ? this.pick() : undefined;
    if (thread === undefined) return here();
    return this.send(thread, fd, () => {});
  }

  /** Has `thread` hash `fd`; `close` runs once it answered or died. */
  private send(thread: Thread, fd: number, close: () => void): Promise<string> {
    const id = this.next++;
    return new Promise<string>((resolve, reject) => {
      if (thread.jobs.size === 0) thread.worker.ref(); // keep the process alive until the answer
      thread.jobs.set(id, {
        resolve: (sha256) => {
          close();
          resolve(sha256);
        },
        reject: (error) => {
          close();
          reject(error);
        },
      });
      thread.worker.postMessage({ id, fd });
    });
  }

  /** The thread with the fewest files queued, made when fewer than THREADS exist and none is free. */
  private pick(): Thread | undefined {
    let best = this.threads[0];
    for (const t of this.threads) if (t.jobs.size < best!.jobs.size) best = t;
    if (best !== undefined && (best.jobs.size === 0 || this.threads.length >= THREADS)) return best;
    try {
      return this.spawn();
    } catch {
      this.usable = false; // e.g. a runtime without worker threads
      return undefined;
    }
  }

  private spawn(): Thread {
    const thread: Thread = { worker: new Worker(WORKER_SOURCE, { eval: true }), jobs: new Map() };
    thread.worker.on('message', (answer: { id: number; sha256?: string; error?: { message: string; code?: string } }) => {
      const job = thread.jobs.get(answer.id);
      thread.jobs.delete(answer.id);
      if (answer.sha256 !== undefined) job?.resolve(answer.sha256);
      else job?.reject(Object.assign(new Error(answer.error?.message ?? 'hash failed'), answer.error?.code ? { code: answer.error.code } : {}));
      if (thread.jobs.size === 0) {
        thread.worker.unref();
        this.whenIdle();
      }
    });
    const fail = (error: Error) => {
      const at = this.threads.indexOf(thread);
      if (at >= 0) this.threads.splice(at, 1); // not when ended idle, nor at the exit after an error
      for (const job of thread.jobs.values()) job.reject(error);
      thread.jobs.clear();
    };
    thread.worker.on('error', fail);
    thread.worker.on('exit', (code) => fail(new Error(`hashing thread exited (${code})`)));
    thread.worker.unref();
    this.threads.push(thread);
    return thread;
  }

  private whenIdle(): void {
    if (this.threads.some((t) => t.jobs.size > 0)) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      for (const t of this.threads.splice(0)) void t.worker.terminate();
    }, IDLE_MS).unref();
  }
}

const threads = new HashThreads();

/**
 * SHA-256 of a file (hex), read and hashed on a worker thread: the same
 * digest as scan.ts's {@link hashFile}, which does it on the calling
 * thread. Several calls at once hash on several cores (see
 * {@link HASHING_IN_FLIGHT}). A file of less than {@link HASH_HERE_BELOW}
 * bytes (by `sizeHint`) is hashed here, at once. Reads only a regular file,
 * never through a symlink nor waiting on a FIFO (regular.ts): anything else
 * throws `UnsupportedEntryError`. Callers hash paths they checked with lstat
 * and compare identities after the hash. A failure keeps the errno `code`
 * (e.g. ENOENT).
 *
 * @example
 * ```ts
 * const sha256 = await hashFileAsync('/srv/app/data.db', 4096);
 * ```
 */
export function hashFileAsync(path: string, sizeHint: number): Promise<string> {
  return threads.hash(path, sizeHint);
}

/**
 * {@link hashFileAsync} of a regular file the caller opened and keeps open
 * until the promise settles: the file whose `fstat` the caller judged, not
 * whatever a path leads to by then. Read from its start with positional
 * reads; the descriptor's offset is left alone.
 *
 * @example
 * ```ts
 * const { fd } = openRegularFile('/srv/app/data.db');
 * try {
 *   const sha256 = await hashOpenFileAsync(fd, 4096);
 * } finally {
 *   fs.closeSync(fd);
 * }
 * ```
 */
export function hashOpenFileAsync(fd: number, sizeHint: number): Promise<string> {
  return threads.hashOpen(fd, sizeHint);
}

/**
 * Runs async tasks with at most `limit` in flight, for work started in a
 * loop whose order must stay (each task fills in its own result). A failed
 * task's error is thrown by the next {@link InFlight.add} or by
 * {@link InFlight.drain}, once every started task has settled: nothing is
 * left reading a file the caller is about to remove.
 *
 * @example
 * ```ts
 * const hashing = new InFlight(HASHING_IN_FLIGHT);
 * try {
 *   for (const e of files) await hashing.add(async () => { e.sha256 = await hashFileAsync(e.path, e.size); });
 *   await hashing.drain();
 * } finally {
 *   await hashing.settled();
 * }
 * ```
 */
export class InFlight {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  /** Starts `task` once fewer than `limit` run (waiting for one to end); throws an earlier task's error instead. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit && this.failure === undefined) await Promise.race(this.running);
    if (this.failure !== undefined) await this.drain();
    const promise: Promise<void> = task()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => this.running.delete(promise));
    this.running.add(promise);
  }

  /** Waits for every started task; throws the first error any of them threw. */
  async drain(): Promise<void> {
    await this.settled();
    if (this.failure !== undefined) throw this.failure.error;
  }

  /** Waits for every started task, whatever they did (for a caller's own failure path). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}
