import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError, acquireLock, assertPrivateDirectory, isHolderAlive, processStartTime, readJournalFile, syncDirectory, writeNewFileDurably, type Lock } from '@unwind/core';
import { SnapshotCorruptError, SnapshotIncompleteError, SnapshotNotFoundError } from './errors.js';
import { MANIFEST_FILE, decodeManifest, type Manifest } from './manifest.js';

/**
 * The shape of a snapshot id (it sorts by creation time).
 *
 * @example
 * ```ts
 * SNAPSHOT_ID.test('20261122T053012345Z-3f9a1c0d') // true
 * ```
 *
 * Layout of a snapshot store (a 0700 directory):
 *
 * ```
 * <store>/<id>/                complete snapshot
 *          manifest.json       checksummed manifest (the authority)
 *          info.json           id, source, createdAt, counts (for listings)
 *          data/<n>            stored copy of each file (hard links stored once)
 *          pins/<name>.json    leases: retention never deletes a pinned snapshot
 * <store>/<id>.partial/        a snapshot being made, or one a crash interrupted
 * <store>/<id>.deleting/       a snapshot being deleted (finished by the next prune)
 * <store>/snapshots.lock       serialises prune, delete and pin
 * ```
 */
export const SNAPSHOT_ID = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

/** A new, time-sorted snapshot id like `20261122T053012345Z-3f9a1c0d`. */
export function newSnapshotId(): string {
  return `${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
}

/** Throws InvalidInputError unless `id` is a snapshot id (it becomes a path component). */
export function checkId(id: string): string {
  if (typeof id !== 'string' || !SNAPSHOT_ID.test(id)) throw new InvalidInputError(`${JSON.stringify(id)} is not a snapshot id`, { id });
  return id;
}

/** Directory of a complete snapshot. */
export const snapshotDir = (store: string, id: string): string => join(store, id);
/** Directory of a snapshot still being made. */
export const partialDir = (store: string, id: string): string => join(store, `${id}.partial`);

/**
 * A pin (lease): while its holder runs, retention keeps the snapshot.
 *
 * @example
 * ```ts
 * for (const p of readPins(join(store, id))) console.log(p.name, p.live ? 'running' : 'stale');
 * ```
 */
export interface Pin {
  /** Who holds it: a transaction id, or any caller-chosen name. */
  name: string;
  /** The holder's transaction directory; the pin lives while its journal is unfinished. */
  journalDir?: string;
  pid: number;
  host: string;
  processStart: string;
  createdAt: string;
}

/** Makes a pin for the current process. */
export function makePin(name: string, journalDir?: string): Pin {
  return { name, ...(journalDir ? { journalDir } : {}), pid: process.pid, host: hostname(), processStart: processStartTime(process.pid) ?? '', createdAt: new Date().toISOString() };
}

const PIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Writes a pin file into a snapshot (or partial) directory, durably. */
export function writePin(dir: string, pin: Pin): void {
  if (!PIN_NAME.test(pin.name)) throw new InvalidInputError(`pin name ${JSON.stringify(pin.name)} must match ${PIN_NAME}`, { name: pin.name });
  const pins = join(dir, 'pins');
  if (!fs.existsSync(pins)) {
    fs.mkdirSync(pins, { mode: 0o700 });
    syncDirectory(dir);
  }
  const path = join(pins, `${pin.name}.json`);
  fs.rmSync(path, { force: true });
  writeNewFileDurably(path, JSON.stringify(pin), 0o600);
}

/**
 * @example
 * ```ts
 * if (!isPinLive(pin)) console.log(`pin ${pin.name} is stale`);
 * ```
 *
 * Whether a pin's holder may still need the snapshot: its transaction's
 * journal exists and has not ended, or (no journal known) its process runs.
 * An unreadable journal counts as live: never delete on a guess.
 */
export function isPinLive(pin: Pin): boolean {
  if (pin.journalDir) {
    const journal = join(pin.journalDir, 'journal.jsonl');
    if (!fs.existsSync(journal)) return false;
    try {
      return readJournalFile(journal).records.at(-1)?.kind !== 'end';
    } catch {
      return true;
    }
  }
  return isHolderAlive({ pid: pin.pid, host: pin.host, processStart: pin.processStart, acquiredAt: pin.createdAt });
}

/**
 * The pins in a snapshot directory; a torn pin file counts as a live pin.
 *
 * @example
 * ```ts
 * const live = readPins(join(store, id)).filter((p) => p.live);
 * ```
 */
export function readPins(dir: string): Array<Pin & { live: boolean }> {
  let names: string[];
  try {
    names = fs.readdirSync(join(dir, 'pins'));
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json')).map((n) => {
    try {
      const pin = JSON.parse(fs.readFileSync(join(dir, 'pins', n), 'utf8')) as Pin;
      return { ...pin, live: isPinLive(pin) };
    } catch {
      return { name: n.slice(0, -5), pid: 0, host: '', processStart: '', createdAt: '', live: true };
    }
  });
}

/**
 * Removes a pin (idempotent).
 *
 * @example
 * ```ts
 * unpin('/var/lib/app/snapshots', id, 'nightly-check');
 * ```
 */
export function unpin(store: string, id: string, name: string): void {
  const path = join(snapshotDir(store, checkId(id)), 'pins', `${name}.json`);
  if (!fs.existsSync(path)) return;
  fs.rmSync(path, { force: true });
  syncDirectory(join(snapshotDir(store, id), 'pins'));
}

/**
 * Pins a complete snapshot so retention keeps it while the caller uses it
 * (for example across a restore run outside a transaction).
 *
 * @example
 * ```ts
 * pin(store, id, 'migration-42'); try { await restore({ store, id, path }); } finally { unpin(store, id, 'migration-42'); }
 * ```
 */
export function pin(store: string, id: string, name: string): void {
  withStoreLock(store, 'pin', () => {
    const dir = snapshotDir(store, checkId(id));
    if (!fs.existsSync(join(dir, MANIFEST_FILE))) throw new SnapshotNotFoundError(store, id);
    writePin(dir, makePin(name));
  });
}

/**
 * Throws UnsafeDirectoryError (exit 4) unless the store is a real directory
 * owned by the running user, not writable by group or others, with no such
 * directory above it: a restore writes what the store says as root, and
 * prune deletes in it, so nobody else may be able to plant or swap anything
 * there. Checked for an existing store too, before anything is read.
 */
export function assertPrivateStore(store: string): void {
  assertPrivateDirectory(store, 'snapshot store');
}

/**
 * Runs `work` holding the store's lock (prune, delete and pin hold it), then
 * releases it durably: the lock file's removal is synced before this returns.
 * Otherwise a power cut after the caller's next durable record (a
 * transaction's `end`) could bring back a stale `snapshots.lock` that no
 * recovery removes — a store left unlike its before- or after-state. One
 * directory sync per call; `syncRelease: false` skips it for a store inside
 * a transaction's journal, which goes with the journal.
 */
export function withStoreLock<T>(store: string, purpose: string, work: () => T, options: { syncRelease?: boolean } = {}): T {
  assertPrivateStore(store);
  const lock: Lock = acquireLock(store, { name: 'snapshots', purpose });
  try {
    return work();
  } finally {
    lock.release();
    if (options.syncRelease !== false) syncDirectory(store);
  }
}

/**
 * Reads and checks a complete snapshot's manifest (its checksum included);
 * refuses incomplete ({@link SnapshotIncompleteError}) and missing snapshots.
 *
 * @example
 * ```ts
 * const { source, entries } = readManifest('/var/lib/app/snapshots', id);
 * ```
 */
export function readManifest(store: string, id: string): Manifest {
  checkId(id);
  const path = join(snapshotDir(store, id), MANIFEST_FILE);
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (fs.existsSync(partialDir(store, id)) || fs.existsSync(snapshotDir(store, id))) throw new SnapshotIncompleteError(store, id);
    throw new SnapshotNotFoundError(store, id);
  }
  const manifest = decodeManifest(text, path);
  if (manifest.id !== id) throw new SnapshotCorruptError(`manifest ${path} names snapshot ${manifest.id}, not ${id}`, { manifest: path });
  return manifest;
}
