import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidInputError, JournalWriteError, UnsafeDirectoryError } from '../errors.js';
import { assertPrivateChildDirectory, assertPrivateDirectory, lstatIfPresent, makePrivateDirectory } from '../private-directory.js';
import { SECTOR_SIZE, removeFileIfPresent, syncDirectory, syncFile, writeFully } from '../durable.js';
import { acquireLock, type Lock } from '../lock.js';
import { removeTreeSafely } from '../remove-tree.js';
import { logger } from '../log.js';
import { randomHex } from '../random-hex.js';
import { FileBlobStore, type BlobStore } from './blobs.js';
import type { Journal, Retention, TransactionJournal } from './journal.js';
import { readJournalFile, readJournalFileSliced, type JournalContents } from './read.js';
import { JOURNAL_FORMAT, REUSABLE_LARGEST, REUSED_JOURNAL_FORMAT, bindingOf, stamp, encodeBoundLine, type JournalRecord, type JournalRecordBody } from './records.js';

const log = logger('journal');

/** The first zeros reserved after a new journal's records (a block), and the most reserved at once. */
const FIRST_RESERVE = 4096;
const LARGEST_RESERVE = 1 << 20;
/** Written from, never to. */
const ZEROS = Buffer.alloc(64 * 1024);

/**
 * The reusable directory in a journal root: a finished transaction's
 * directory, kept (instead of removed) for the next transaction to take
 * over, its journal file written over in place. Never a transaction id, so
 * nothing lists, reads or recovers it.
 */
export const REUSABLE = '.reusable';
/**
 * The journal file inside a transaction's directory.
 *
 * @example
 * ```ts
 * const { records } = readJournalFile(join(root, id, JOURNAL_FILE));
 * ```
 */
export const JOURNAL_FILE = 'journal.jsonl';

/**
 * Options of {@link fileJournal}.
 *
 * @example
 * ```ts
 * const options: FileJournalOptions = { root: '/var/lib/app/unwind', retention: { keepLast: 50 } };
 * const tx = transaction('install app', { journal: fileJournal(options) });
 * ```
 */
export interface FileJournalOptions {
  /** The journal root, e.g. `/var/lib/<app>/unwind`. Created 0700 if missing. */
  root: string;
  /** What to do with finished transactions. Default `{ keepLast: 20 }`. */
  retention?: Retention;
  /** Called after each record is appended (and synced, if it was). For crash tests. */
  afterAppend?: (record: JournalRecord) => void;
}

/**
 * The durable journal: one 0700 directory per transaction under `root`,
 * holding an append-only `journal.jsonl` (its records, then zeros reserved
 * for the next ones) and the steps' blobs.
 *
 * @example
 * ```ts
 * const tx = transaction('install', { journal: fileJournal({ root: '/var/lib/app/unwind' }) });
 * ```
 */
export function fileJournal(options: FileJournalOptions): Journal {
  if (!options.root) throw new InvalidInputError('fileJournal needs a root directory', {});
  const root = resolve(options.root);
  const retention = options.retention ?? { keepLast: 20 };
  // Set while a lock this journal took is held: the root was made and checked just before it was
  // taken. The check proves only root can change the path, so `begin` under that lock needs no
  // second walk to /.
  let checkedUnderLock = false;
  // The root's listing the lock took (to sweep a crash's lock temporaries), kept for the first
  // `unfinished()` under that lock: one listing serves both. Nothing else changes the root
  // between the two while the lock is held; a journal given its id back by adoptReusedJournal
  // (a power cut's) drops it, and so do `begin` and the release.
  let rootListing: fs.Dirent[] | undefined;
  // The host named in the lock held now, for `begin`'s record: asked once per transaction, not twice.
  let host: string | undefined;
  return {
    durable: true,
    root,
    retention,
    lock(purpose: string): Lock {
      makePrivateDirectory(root, 'journal root');
      let listing: fs.Dirent[] | undefined;
      const lock = acquireLock(root, {
        purpose,
        listDirectory: (directory) => {
          listing = fs.readdirSync(directory, { withFileTypes: true });
          return listing.map((entry) => entry.name);
        },
      });
      try {
        if (adoptReusedJournal(root) !== undefined) listing = undefined;
      } catch (error) {
        lock.release();
        throw error;
      }
      checkedUnderLock = true;
      rootListing = listing;
      host = lock.holder.host;
      return {
        path: lock.path,
        holder: lock.holder,
        ...(lock.tookOverFrom ? { tookOverFrom: lock.tookOverFrom } : {}),
        release() {
          checkedUnderLock = false;
          rootListing = undefined;
          host = undefined;
          lock.release();
        },
      };
    },
    begin(name, meta) {
      rootListing = undefined;
      if (!checkedUnderLock) makePrivateDirectory(root, 'journal root');
      const id = newTransactionId(name);
      const dir = join(root, id);
      const path = join(dir, JOURNAL_FILE);
      const begin = (format: number) => ({ kind: 'begin', format, id, name, pid: process.pid, host: host ?? hostname(), ...(meta ? { meta } : {}) }) as const;
      const reusedBegin = begin(REUSED_JOURNAL_FORMAT);
      // Settled already when this journal's lock was taken (see adoptReusedJournal); a journal that will
      // be removed needs no durable name (see takeReusable). Only a begin a sector holds is written over
      // an earlier journal's file: a disk writes a sector whole, and a begin torn over earlier lines
      // would read as neither journal's (a long name or meta takes a new file).
      const reused = fitsInASector(reusedBegin) ? takeReusable(root, id, { settled: checkedUnderLock, syncName: retention !== 'remove' }) : undefined;
      if (reused) {
        try {
          const journal = new FileTransactionJournal(root, id, path, reused.fd, [], retention, options.afterAppend, false, 0, { bind: bindingOf(id), size: reused.size });
          // Held, like every record until the first synced one: they reach the file in one write over the earlier records.
          journal.append(reusedBegin, false);
          return journal;
        } catch (error) {
          fs.closeSync(reused.fd);
          throw error;
        }
      }
      fs.mkdirSync(dir, { mode: 0o700 });
      // Made just now in the root checked above: only the directory itself needs checking, not the walk to / again.
      assertPrivateChildDirectory(dir, 'transaction directory');
      // Not O_APPEND: records are written at their offset, ahead of the zeros reserved after them.
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      // Nothing of it needs to be durable yet: nothing has been prepared. The first synced
      // record (the first `prepared`, or the commit point) makes the file, its directory and
      // the directory's entry in the root durable together (see FileTransactionJournal.flush).
      try {
        const journal = new FileTransactionJournal(root, id, path, fd, [], retention, options.afterAppend, true);
        journal.append(begin(JOURNAL_FORMAT), false);
        return journal;
      } catch (error) {
        // A begin that failed (a full disk, a read-only filesystem) hands no journal back: nobody else would close it.
        fs.closeSync(fd);
        throw error;
      }
    },
    unfinished(): string[] {
      if (!checkedUnderLock) {
        // Without this journal's lock (a run with `lock: false`, or a caller's own lock) nothing has checked
        // the root yet: nothing in it is read or renamed before it is (a missing root holds no transaction).
        if (lstatIfPresent(root) === undefined) return [];
        assertPrivateDirectory(root, 'journal root');
        adoptReusedJournal(root);
      }
      const ids = rootListing ? transactionIdsOf(rootListing) : listTransactionIds(root);
      rootListing = undefined;
      return ids.filter((id) => !isFinished(root, id));
    },
  };
}

/** Whether `begin`'s line, as the journal writes it (its sequence number and time added), is at most a sector. */
function fitsInASector(begin: JournalRecordBody): boolean {
  return Buffer.byteLength(encodeBoundLine(stamp({ ...begin }, 1), 0)) <= SECTOR_SIZE;
}

/**
 * Reopens an unfinished transaction's journal for recovery. A torn last line,
 * or an earlier journal's lines after its records (see JournalContents'
 * `strayBytes`), is cut off (and the cut synced) so new records follow the
 * last good one.
 *
 * @example
 * ```ts
 * const journal = reopenTransactionJournal('/var/lib/app/unwind', id);
 * const state = analyzeRecords([...journal.records]);
 * journal.close(false);
 * ```
 */
export function reopenTransactionJournal(root: string, id: string, options: ReopenOptions = {}): FileTransactionJournal {
  const path = checkedJournalPath(root, id);
  return reopenRead(root, id, path, readJournalFile(path), options);
}

/**
 * {@link reopenTransactionJournal} that gives the event loop back while it
 * reads and checks the journal (`pause`: see {@link readJournalFileSliced}),
 * for `recover()`. Internal.
 *
 * @example
 * ```ts
 * const journal = await reopenTransactionJournalSliced(root, id, {}, () => (slices.due() ? slices.pause() : undefined));
 * ```
 */
export async function reopenTransactionJournalSliced(root: string, id: string, options: ReopenOptions, pause: () => Promise<void> | undefined): Promise<FileTransactionJournal> {
  const path = checkedJournalPath(root, id);
  return reopenRead(root, id, path, await readJournalFileSliced(path, pause), options);
}

/**
 * What {@link reopenTransactionJournal} takes besides the root and the id.
 *
 * @example
 * ```ts
 * const options: ReopenOptions = { retention: 'remove', afterAppend: (record) => console.log(record.kind) };
 * ```
 */
export interface ReopenOptions {
  /** What happens to the journal once the recovery finishes it (default: keep the last 20). */
  retention?: Retention;
  /** Called after each record the recovery appends (tests use it to stop at a chosen record). */
  afterAppend?: (record: JournalRecord) => void;
}

/** The journal file of transaction `id`, once the id and both directories are checked. */
function checkedJournalPath(root: string, id: string): string {
  if (!TRANSACTION_ID.test(id)) throw new InvalidInputError(`"${id}" is not a transaction id`, { id });
  assertPrivateDirectory(root, 'journal root');
  assertPrivateDirectory(join(root, id), 'transaction directory');
  return join(root, id, JOURNAL_FILE);
}

function reopenRead(root: string, id: string, path: string, contents: JournalContents, options: ReopenOptions): FileTransactionJournal {
  // O_NOFOLLOW: a journal file swapped for a symlink is never appended through.
  const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    // A torn last line (or an earlier journal's lines) goes, so new records follow the last good one. Zeros
    // reserved after the last record stay: new records are written over them (nothing is changed before they are).
      if (contents.strayBytes) {
      fs.ftruncateSync(fd, contents.validLength);
      fs.fsyncSync(fd);
      log('cut torn last line of %s', path);
    }
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return new FileTransactionJournal(root, id, path, fd, contents.records, options.retention ?? { keepLast: 20 }, options.afterAppend, false, contents.validLength);
}

/**
 * One transaction's file journal.
 *
 * Every record is written at once; only the records appended with `sync`
 * are fdatasynced. One that was not synced was never promised to survive a
 * power cut, and recovery treats a lost one as never written (a step
 * prepared but not done is undone as "maybe done"; an undo whose `undone`
 * record is lost is made again, and finds its work done). Written at once,
 * it survives a SIGKILL (the page cache outlives the process), so after the
 * commonest crash `unwind status` and recovery know every step that
 * finished, and a test that kills the process when a record is appended
 * kills it with that record in the file. (Holding such records in memory
 * until the next synced one saved two write calls per step, and lost all of
 * that.) The one exception is a journal written over a reused one's file:
 * until a synced record covers the earlier journal's records it holds its
 * records, so they reach the file in one write with that record (see
 * takeReusable). Under the runner that is `begin` alone (its next record, a
 * `prepared`, is synced), or `begin` and the commit point of an empty
 * transaction, whose synced `end` follows at once; and when the first synced
 * write went into the first sector alone, the first step's `done` and
 * `verified` too, until the next `prepared` or the commit point.
 */
export class FileTransactionJournal implements TransactionJournal {
  private readonly list: JournalRecord[];
  private closed = false;
  /** Bytes of acknowledged records: where the next record is written, and where the file is cut back to after a failed write. */
  private length: number;
  /** The file's size: the records, then the zeros reserved after them (see reserve). */
  private allocated: number;
  /** Whether this journal reserved zeros itself: only then does closing cut them off (a journal only read is never changed). */
  private reserved = false;
  /** Records acknowledged to the caller as written: the file holds the first `written` of `list`. */
  private written: number;
  /** Encoded records appended without sync and not written yet. */
  private pending = '';
  /** Set when the file can no longer be trusted to end at a record boundary. */
  private unusable: string | undefined;
  /** A reused journal's: what binds each line after `begin` to this transaction (see bindingOf); 0 binds to nothing. */
  private readonly bind: number;
  /** Whether this journal made its directory or took it over (see takeReusable): only then may it hand it on. */
  private readonly ownDirectory: boolean;
  /** Whether a step asked for its blob directory: a directory that may hold blobs is never handed on. */
  private blobsAsked = false;
  /**
   * A reused journal's: the bytes the earlier journal used that no write of
   * this one covered yet. Its records are held until a synced one, whose
   * write covers them with zeros (see takeReusable).
   */
  private heldOver: number;
  /** A reused journal's, until a sync replaced it: the earlier journal's `begin` may still be on the disk (see takeReusable). */
  private earlierBegin: boolean;

  constructor(
    private readonly root: string,
    readonly id: string,
    readonly path: string,
    private readonly fd: number,
    records: JournalRecord[],
    private readonly retention: Retention,
    private readonly afterAppend?: (record: JournalRecord) => void,
    /** A new journal: its directory entries are synced with its first synced record. */
    private directoriesUnsynced = false,
    /** Where the records end; only zeros follow, up to the file's size. */
    length = 0,
    /** A journal written over a reusable one's file (see takeReusable), already zeroed: its size and binding. */
    reuse?: { bind: number; size: number },
  ) {
    this.list = records;
    this.written = records.length;
    this.length = length;
    const first = records[0];
    this.bind = reuse?.bind ?? (first?.kind === 'begin' && first.format === REUSED_JOURNAL_FORMAT ? bindingOf(first.id) : 0);
    this.ownDirectory = directoriesUnsynced || reuse !== undefined;
    // The zeros a reused file holds are a reserve like any other: cut off if the journal is kept.
    this.reserved = reuse !== undefined;
    this.allocated = reuse?.size ?? fs.fstatSync(fd).size;
    this.heldOver = reuse?.size ?? 0;
    this.earlierBegin = (reuse?.size ?? 0) > 0;
  }

  get records(): readonly JournalRecord[] {
    return this.list;
  }

  get directory(): string {
    return join(this.root, this.id);
  }

  append(body: JournalRecordBody, sync: boolean | 'with-next'): JournalRecord {
    const record = stamp(body, this.list.length + 1);
    if (this.unusable) {
      throw new JournalWriteError(`${this.path} is not written to any more: ${this.unusable}`, { path: this.path, record: record.kind });
    }
    this.list.push(record);
    this.pending += encodeBoundLine(record, record.kind === 'begin' ? 0 : this.bind);
    // Held for the next append, which the caller makes at once: one write for both, no code between them.
    if (sync === 'with-next') return record;
    // A reused journal holds its records until a synced one covers the earlier records (see takeReusable).
    if (this.heldOver > 0 && !sync) return record;
    const first = this.written;
    this.flush(sync, record.kind);
    if (this.afterAppend) for (let index = first; index < this.written; index++) this.afterAppend(this.list[index]!);
    return record;
  }

  /**
   * Writes the pending records in one write and, with `sync`, fdatasyncs
   * them; the first sync of a new journal also syncs its directory and the
   * root, so the file is found after a power cut. On failure none of the
   * pending records count: their bytes are cut off and they leave `records`.
   */
  private flush(sync: boolean, kind: string): void {
    if (this.pending === '' && !sync) return;
    const bytes = Buffer.from(this.pending, 'utf8');
    const end = this.length + bytes.length;
    // A reused journal's first sector replaces the earlier begin in one synced write (see takeReusable).
    const inFirstSector = this.earlierBegin && sync && end <= SECTOR_SIZE;
    // Records that reach past the second sector are written over zeros only (see zeroEarlierLines).
    const overZerosFirst = !inFirstSector && this.heldOver > SECTOR_SIZE && end > 2 * SECTOR_SIZE;
    // Then a write covers every byte the earlier journal used that no write covered yet, with zeros.
    const coverTo = inFirstSector ? Math.min(this.heldOver, SECTOR_SIZE) : overZerosFirst ? 0 : this.heldOver;
    const cover = coverTo > end ? Buffer.concat([bytes, ZEROS.subarray(0, coverTo - end)]) : bytes;
    try {
      if (this.earlierBegin && !inFirstSector) this.zeroEarlierBegin();
      if (overZerosFirst) this.zeroEarlierLines();
      writeFully(this.fd, cover, this.path, this.length); // a short write is an error, never a half record that counts
      if (coverTo >= this.heldOver) this.heldOver = 0;
      this.reserve(end);
      if (sync) {
        fs.fdatasyncSync(this.fd);
        this.earlierBegin = false;
        if (this.directoriesUnsynced) {
          syncDirectory(this.directory);
          syncDirectory(this.root);
          this.directoriesUnsynced = false;
        }
      }
    } catch (error) {
      // Never retried: after a failed fsync the kernel may have dropped the pages (fsyncgate).
      // The records do not count; cut their bytes off so the next record does not follow a half line.
      this.pending = '';
      this.list.length = this.written;
      this.cutBack(cover.length);
      throw new JournalWriteError(`could not ${sync ? 'write and sync' : 'write'} ${this.path}: ${(error as Error).message}`, { path: this.path, record: kind }, error);
    }
    this.pending = '';
    this.length += bytes.length;
    this.written = this.list.length;
  }

  /**
   * Zeroes the earlier journal's lines after the first sector and syncs
   * them, once its `begin` is gone (see zeroEarlierBegin and takeReusable),
   * for held records that reach past the second sector. Written in one
   * write with them, the earlier lines could stay in a sector the disk lost
   * (a hole) with the later records kept after it: the reader would find a
   * line of this journal after a mixed one and refuse the journal as
   * corrupt, though that write's sync never returned. Over zeros, a lost
   * sector reads as zeros, which end the journal there. Shorter records
   * need no sync of their own: no whole record can follow a lost sector in
   * the first two.
   */
  private zeroEarlierLines(): void {
    writeZeros(this.fd, this.path, SECTOR_SIZE, this.heldOver);
    fs.fdatasyncSync(this.fd);
    this.heldOver = 0;
  }

  /**
   * Zeroes a reused file's first sector (the earlier `begin`) and syncs it,
   * for a first write that one sector does not hold (see takeReusable).
   */
  private zeroEarlierBegin(): void {
    writeZeros(this.fd, this.path, 0, Math.min(this.heldOver, SECTOR_SIZE));
    fs.fdatasyncSync(this.fd);
    this.earlierBegin = false;
  }

  /**
   * Writes zeros ahead of the records, so that most syncs write a record
   * into blocks the file already has and leave its size alone. An fdatasync
   * of a grown file must also write its inode: on ext4 without a journal a
   * second block write, on ext4 with one a journal commit. The reserve
   * starts at one block and doubles, a mebibyte at most at a time. Readers
   * take zeros after the last record for the end of the journal (a NUL
   * line also ends it when a power cut lost a block that was never synced).
   */
  private reserve(end: number): void {
    if (end <= this.allocated) return;
    let target = Math.max(this.allocated, FIRST_RESERVE);
    while (target < end) target += Math.min(target, LARGEST_RESERVE);
    try {
      writeZeros(this.fd, this.path, end, target);
    } catch (error) {
      // Only a saving: a disk too full for the reserve still takes the record.
      log('%s: no zeros reserved ahead of the records: %s', this.path, (error as Error).message);
      target = end;
      try {
        fs.ftruncateSync(this.fd, end);
      } catch {
        // Zeros left past the end read as the end.
      }
    }
    this.allocated = target;
    this.reserved = true;
  }


  /**
   * Takes back the bytes of a write that failed (`failed` bytes at the
   * end of the records): the file is cut to where it ended before and
   * their place in the reserve is zeros again, so the reserve still holds
   * the next records — on a full disk, the rollback's. If that fails, the
   * file is cut to its last acknowledged record, as without a reserve; if
   * even that fails, the file may end in a half record, so nothing more is
   * ever appended: a record after it would turn a torn tail into
   * corruption in the middle.
   */
  private cutBack(failed: number): void {
    try {
      fs.ftruncateSync(this.fd, this.allocated);
      writeZeros(this.fd, this.path, this.length, Math.min(this.allocated, this.length + failed));
      fs.fdatasyncSync(this.fd);
      return;
    } catch (error) {
      log('%s: could not zero a failed record in the reserve (%s): cutting the file at its last record', this.path, (error as Error).message);
    }
    try {
      fs.ftruncateSync(this.fd, this.length);
      this.allocated = this.length;
      fs.fdatasyncSync(this.fd);
    } catch (error) {
      this.unusable = `an earlier write failed and its partial record could not be cut off (${(error as Error).message})`;
      log('%s: %s', this.path, this.unusable);
    }
  }

  /**
   * Cuts the zeros after the last record off a journal that is kept: no
   * record follows them any more. Not synced: a cut a power cut loses
   * leaves zeros, which readers take for the end; one that fails is logged.
   */
  private releaseReserve(): void {
    try {
      fs.ftruncateSync(this.fd, this.length);
      this.allocated = this.length;
    } catch (error) {
      log('%s: could not cut the reserved zeros off: %s', this.path, (error as Error).message);
    }
  }

  blobs(step: number): BlobStore {
    this.blobsAsked = true;
    return new FileBlobStore(join(this.root, this.id, 'blobs', String(step)));
  }

  close(finished: boolean): void {
    if (this.closed) return;
    this.closed = true;
    try {
      // Unsynced records still go to the file (for `unwind status`, and for recovery if the machine stays up).
      if (!this.unusable) this.flush(false, 'close');
      if (this.reserved && !this.unusable && this.allocated > this.length && !(finished && this.retention === 'remove')) this.releaseReserve();
    } finally {
      fs.closeSync(this.fd);
    }
    if (!finished) return;
    // Its own journal is among those retention lists: known finished here, so not read back whole
    // (a 100,000-step recovery spent 0.65 s, all of it holding the event loop, re-reading its own).
    if (!this.unusable && typeof this.retention === 'object' && this.list.at(-1)?.kind === 'end') rememberFinished(this.path);
    applyRetention(this.root, this.id, this.retention, this.canHandOn(), this.list.at(-1)?.kind === 'end');
  }

  /**
   * Whether this journal's directory may become the reusable one when it is
   * removed: it made the directory or took it over, so the directory and
   * its file's entry are durable once a record was synced; no step asked
   * for blobs; every record written is in the file; and it is small.
   */
  private canHandOn(): boolean {
    return this.ownDirectory && !this.directoriesUnsynced && !this.unusable && !this.blobsAsked && this.allocated <= REUSABLE_LARGEST;
  }
}

/** Writes zeros over bytes `from` to `to` of the file `fd` (the reserve, a failed record, a reused journal's old records). */
function writeZeros(fd: number, path: string, from: number, to: number): void {
  for (let offset = from; offset < to; offset += ZEROS.length) {
    writeFully(fd, ZEROS.subarray(0, Math.min(ZEROS.length, to - offset)), path, offset);
  }
}

function applyRetention(root: string, id: string, retention: Retention, handOn: boolean, ended: boolean): void {
  if (retention === 'keep') return;
  if (retention === 'remove') {
    if (!(handOn && makeReusable(root, id, false, ended))) removeTransaction(root, id);
    return;
  }
  const finished = listTransactionIds(root).filter((other) => isFinished(root, other));
  let reusable = false;
  for (const old of finished.slice(0, Math.max(0, finished.length - retention.keepLast))) {
    if (!reusable && makeReusable(root, old, true, true)) reusable = true;
    else removeTransaction(root, old);
  }
}

/**
 * Makes finished transaction `id`'s directory the root's reusable one
 * (renamed, not synced), when it holds only a small journal file and no
 * directory is reusable yet. `confirm` (a directory this process did not
 * write) first syncs its journal file and the directory itself, so what
 * {@link takeReusable} relies on holds: the file's entry in the directory
 * is durable. `ended`: its last record is `end` (so the next lock this
 * process takes need not read it again; see adoptReusedJournal). Returns
 * false (leaving it for removal) otherwise.
 */
function makeReusable(root: string, id: string, confirm: boolean, ended: boolean): boolean {
  const dir = join(root, id);
  const path = join(dir, JOURNAL_FILE);
  try {
    if (confirm) {
      // Another process's journal: checked before the syncs, which are wasted on one not kept.
      // This process's own holds nothing but its journal file (see canHandOn), and the rename
      // below fails onto a reusable directory that holds anything; takeReusable checks again.
      if (fs.existsSync(join(root, REUSABLE))) return false;
      const names = fs.readdirSync(dir);
      if (names.length !== 1 || names[0] !== JOURNAL_FILE) return false;
    }
    const st = fs.lstatSync(path, { bigint: true });
    if (!st.isFile() || st.size > REUSABLE_LARGEST) return false;
    if (confirm) {
      syncFile(path);
      syncDirectory(dir);
    }
    finishedJournals.delete(path);
    // Not synced, like a removal: whether a power cut keeps it under its old name or the new one,
    // its records are the finished journal's, unchanged.
    fs.renameSync(dir, join(root, REUSABLE));
    // A rename of its directory leaves the file's identity as it is.
    if (ended) rememberIdentity(join(root, REUSABLE, JOURNAL_FILE), st);
    log('kept journal %s to be reused', id);
    return true;
  } catch (error) {
    log('journal %s not kept to be reused: %s', id, (error as Error).message);
    return false;
  }
}

/**
 * Takes the root's reusable directory over for transaction `id`: renamed to
 * `id`, then its journal file checked and zeroed. Returns the open file and
 * its size, or undefined when there is none (or it is not a private
 * directory holding only a small private journal file, in which case it is
 * removed). Saves the new directory and file, their first sync (which on
 * most filesystems also writes the new inode) and the removal of the old
 * ones: on an ext4 mounted with `discard`, about half of a small
 * transaction's time (docs/benchmarks.md).
 *
 * `settled`: {@link adoptReusedJournal} ran under the lock held now, so the
 * reusable directory holds nothing to recover; otherwise it runs here first.
 *
 * `syncName`: the root is synced after the rename, before anything in the
 * directory changes, so the journal's records are never found under another
 * name. A journal that will be removed (retention `'remove'`) skips that
 * sync (one directory sync of the three a 1-step transaction made): its name
 * need not outlive it. A power cut may then leave its synced records under
 * the reusable directory's name, where adoptReusedJournal gives them their
 * id back before anything lists unfinished transactions, or under the name
 * of the transaction that handed the directory on, where they are read and
 * recovered like any journal (they name their own id in `begin`, and their
 * lines are bound to it).
 *
 * The earlier `begin`, in the file's first sector, must be gone from the
 * disk before anything covers the earlier commit point: a disk writes a
 * sector whole, but not a block (see SECTOR_SIZE), and a write covering the
 * old lines at once could reach the disk in part, the old `begin` and the
 * lines in its sector kept, the old commit point after them zeroed. A
 * reader then finds a committed transaction that never reached its commit
 * point, and recovery rolls it back (the power-loss explorer, tearing writes
 * at sectors, found exactly that: a committed transaction's file deleted).
 *
 * So the new journal holds its records, `begin` first, until the first
 * synced one (under the runner the first `prepared`, or the commit point and
 * `end` of an empty transaction), and that sync replaces the first sector:
 * - when they fit in it, they are written with zeros to its end in one
 *   write of one sector, and synced. A power cut leaves the old journal
 *   whole (finished, so recovery only closes it) or the new records, zeros
 *   to the sector's end and the old lines after it, where the reader ends
 *   the journal (a NUL line, see readJournalFile). The records after them
 *   are held too, up to the next synced one, and written in one write that
 *   covers the rest of the old lines with zeros: so, as with a first write,
 *   no write follows a covering write before its sync returns (a record
 *   written in between could be kept while the covering write was lost, and
 *   a line of this journal after old bytes reads as corruption);
 * - when they do not, the first sector is zeroed alone and synced (a power
 *   cut leaves the old journal whole, or a file that reads as empty), then
 *   the records are written in one write that also covers the rest of the
 *   old lines with zeros. A power cut before their sync returns leaves, in
 *   the first sector, zeros (empty) or the new `begin`, followed by new
 *   records, zeros or old lines.
 * Either way, when the records of that covering write reach past the
 * second sector, the earlier lines after the first sector are zeroed and
 * synced first, and the records are written over zeros: a power cut could
 * otherwise keep a sector of earlier lines between kept records of the
 * same unsynced write (a hole), a line of this journal after a mixed one,
 * which reads as corruption (zeroEarlierLines).
 * Old lines fail the checksums bound to this id (see
 * {@link REUSED_JOURNAL_FORMAT}), and the reader ends the journal at the
 * first of them (see readJournalFile). Once they are covered the file reads
 * exactly like a new one: records, then zeros. Each of those states, under
 * each name, is explored by the power-loss tests. The first way costs no
 * sync of its own (a 1-step transaction's `begin` and `prepared` take about
 * 300 bytes); the second costs one, and the new file reuse saves needed
 * three.
 */
function takeReusable(root: string, id: string, how: { settled: boolean; syncName: boolean }): { fd: number; size: number } | undefined {
  if (!how.settled) adoptReusedJournal(root);
  const dir = join(root, id);
  try {
    fs.renameSync(join(root, REUSABLE), dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log('%s not reused: %s', join(root, REUSABLE), (error as Error).message);
    return undefined;
  }
  finishedJournals.delete(join(root, REUSABLE, JOURNAL_FILE));
  if (how.syncName) syncDirectory(root);
  let fd: number | undefined;
  try {
    const directory = assertPrivateChildDirectory(dir, 'transaction directory');
    // Owned by the running user (checked just now): its file must be too.
    const uid = directory.uid;
    const identity = directoryIdentity(directory);
    if (checkedReusable.get(root) !== identity) {
      const names = fs.readdirSync(dir);
      if (names.length !== 1 || names[0] !== JOURNAL_FILE) throw new Error(`it holds ${names.join(', ') || 'nothing'}`);
    }
    const path = join(dir, JOURNAL_FILE);
    fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); // O_NONBLOCK: a FIFO put here is refused below, not waited on (no effect on a regular file)
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1 || st.uid !== uid || (st.mode & 0o077) !== 0 || st.size > REUSABLE_LARGEST) {
      throw new Error(`its journal file is not a private file of at most ${REUSABLE_LARGEST} bytes with one name`);
    }
    rememberCheckedReusable(root, identity);
    return { fd, size: st.size };
  } catch (error) {
    checkedReusable.delete(root);
    if (fd !== undefined) fs.closeSync(fd);
    log('%s not reused: %s', join(root, REUSABLE), (error as Error).message);
    // Renamed to a transaction id, it must not stay: it would be read as this transaction's journal.
    if (fs.lstatSync(dir).isDirectory()) removeTransaction(root, id);
    else fs.unlinkSync(dir); // never followed
    return undefined;
  }
}

/**
 * Per journal root: the identity (see directoryIdentity) of the reusable
 * directory when {@link takeReusable} last found it holding nothing but its
 * journal file. The directory keeps that identity while it is handed on and
 * taken over again (a rename within the root changes neither its inode nor
 * its modification time), and an entry made or removed in it changes its
 * modification time, so the same identity means the same single entry: the
 * next take-over skips the listing (one directory listing, five system calls,
 * of a small transaction's forty). Only root and the running user can change
 * anything under a private root. What no identity shows (an entry made
 * within the clock tick of the directory's last change) is seen when the
 * process starts again, or when the identity changes.
 */
const checkedReusable = new Map<string, string>();

/** A directory's device, inode, modification time, size and link count (see checkedReusable). */
function directoryIdentity(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}:${st.nlink}`;
}

function rememberCheckedReusable(root: string, identity: string): void {
  if (checkedReusable.size >= FINISHED_JOURNALS_KEPT) checkedReusable.clear();
  checkedReusable.set(root, identity);
}

/**
 * Gives a transaction's journal that a power cut left in the root's
 * reusable directory its own name back, so that recovery finds it. Call it
 * under the root's lock, before listing unfinished transactions: the file
 * journal's `lock`, `recover()` and `unwind recover` do.
 *
 * A transaction with retention `'remove'` that took the reusable directory
 * over never syncs its new name (see fileJournal's retention): a power cut
 * may leave its synced records under the reusable directory's name, which
 * no listing reads. A reusable journal that is neither empty nor finished is
 * therefore renamed to the id its `begin` names (a new id when that is not a
 * free transaction id, or when the journal cannot be read: a journal nobody
 * can read is shown to the operator as a transaction, never reused), and the
 * root is synced. One this process handed on and that is unchanged since
 * (same device, inode, size and change time) is known finished and not read
 * again. Returns the id given, or undefined when there was nothing to adopt.
 *
 * @example
 * ```ts
 * const lock = acquireLock(root, { purpose: 'list unfinished' });
 * try {
 *   adoptReusedJournal(root);
 *   console.log(listTransactionIds(root));
 * } finally {
 *   lock.release();
 * }
 * ```
 */
export function adoptReusedJournal(root: string): string | undefined {
  const dir = join(root, REUSABLE);
  const path = join(dir, JOURNAL_FILE);
  let st: fs.BigIntStats | undefined;
  try {
    st = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch (error) {
    // A reusable "directory" that is a file holds no journal; takeReusable removes it.
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  // No reusable directory, or one without a journal file: nothing was ever prepared in it.
  if (!st) return undefined;
  if (finishedJournals.get(path) === fileIdentity(st)) return undefined;
  // Never read through a symlink; takeReusable removes it.
  if (!fs.lstatSync(dir).isDirectory()) return undefined;
  let records: readonly JournalRecord[] | undefined;
  try {
    records = readJournalFile(path).records;
  } catch (error) {
    log('%s cannot be read (%s): kept as a transaction, never reused', path, (error as Error).message);
  }
  if (records && (records.length === 0 || records.at(-1)!.kind === 'end')) {
    rememberIdentity(path, st);
    return undefined;
  }
  const begin = records?.[0];
  const named = begin?.kind === 'begin' && typeof begin.id === 'string' && TRANSACTION_ID.test(begin.id) && !fs.lstatSync(join(root, begin.id), { throwIfNoEntry: false }) ? begin.id : newTransactionId('reused journal');
  fs.renameSync(dir, join(root, named));
  syncDirectory(root);
  log('a power cut left transaction %s in %s: renamed back to its id', named, dir);
  return named;
}

/**
 * Deletes a transaction's directory (its journal file first). Not synced:
 * only finished transactions are removed, and a lost removal leaves one.
 *
 * @example
 * ```ts
 * for (const t of listTransactions(root)) if (t.state?.ended) removeTransaction(root, t.id);
 * ```
 */
export function removeTransaction(root: string, id: string): void {
  // Only ever a real transaction directory right under the root: never a symlink, never a path a journal made up.
  if (!TRANSACTION_ID.test(id)) throw new InvalidInputError(`"${id}" is not a transaction id`, { id });
  const dir = join(root, id);
  finishedJournals.delete(join(dir, JOURNAL_FILE));
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) throw new UnsafeDirectoryError(dir, 'transaction directory', `is a ${st.isSymbolicLink() ? 'symlink' : 'non-directory'}; not removed`);
  // Not synced: only a finished journal (its `end` synced) or one that never prepared a step is
  // removed, so a removal a power cut loses, whole or in part, leaves nothing to recover (a
  // directory left without its journal file counts as finished; see isFinished).
  removeFileIfPresent(join(dir, JOURNAL_FILE));
  try {
    fs.rmdirSync(dir); // the common case: a journal without blobs leaves the directory empty
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw error;
    // Through descriptors (never a path below `dir`), like a removed user's home: a directory inside swapped for a
    // symlink is removed as the link, and nothing mounted inside is gone into.
    removeTreeSafely(dir);
  }
  log('removed journal %s', id);
}

/**
 * Transaction ids under a root, oldest first (ids sort by time).
 *
 * @example
 * ```ts
 * for (const id of listTransactionIds('/var/lib/app/unwind')) console.log(id);
 * ```
 */
export function listTransactionIds(root: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return transactionIdsOf(entries);
}

/** The transaction directories among a root's entries, oldest first. */
function transactionIdsOf(entries: readonly fs.Dirent[]): string[] {
  return entries.filter((e) => e.isDirectory() && TRANSACTION_ID.test(e.name)).map((e) => e.name).sort();
}

/**
 * Journals found finished, by path, with the identity their file had when read: device,
 * inode, size and change time. A finished journal is never written again, and a write of
 * any kind (an append, a cut, bytes overwritten in place) changes its size or its ctime, so
 * the same identity means the same records. Every transaction lists the journals its root
 * keeps (default 20) when it starts and again when its retention prunes them: without this,
 * each listing read and checked every kept journal whole. What no identity shows (bit rot, or a
 * same-size overwrite within the clock tick of the last write) is seen when the process starts
 * again; a finished journal has nothing to undo either way.
 */
const finishedJournals = new Map<string, string>();
const FINISHED_JOURNALS_KEPT = 10_000;

/** What a finished journal is remembered by: device, inode, size and change time (see finishedJournals). */
function fileIdentity(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.ctimeNs}`;
}

/** Caches `path` as finished, with the identity its file has now (after the journal's last write). */
function rememberFinished(path: string): void {
  const st = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (st?.isFile()) rememberIdentity(path, st);
}

/** Caches `path` as finished, with identity `st` (taken after its last write). */
function rememberIdentity(path: string, st: fs.BigIntStats): void {
  if (finishedJournals.size >= FINISHED_JOURNALS_KEPT) finishedJournals.clear();
  finishedJournals.set(path, fileIdentity(st));
}

/**
 * Whether transaction `id` under `root` needs no recovery: its journal ends
 * with `end`, or it has no journal file (nothing was ever prepared under it).
 * Internal to core: the listing reads use it.
 */
export function isFinished(root: string, id: string): boolean {
  const path = join(root, id, JOURNAL_FILE);
  try {
    // Taken before the read: if the file changes in between, the identity kept is one it no longer has.
    const st = fs.lstatSync(path, { bigint: true });
    const identity = fileIdentity(st);
    if (finishedJournals.get(path) === identity) return true;
    const finished = readJournalFile(path).records.at(-1)?.kind === 'end';
    if (finished) {
      if (finishedJournals.size >= FINISHED_JOURNALS_KEPT) finishedJournals.clear();
      finishedJournals.set(path, identity);
    } else {
      finishedJournals.delete(path);
    }
    return finished;
  } catch (error) {
    finishedJournals.delete(path);
    // No journal file: what is left of a removal, or a crash before the file was made;
    // either way no step was ever prepared under it, so there is nothing to recover.
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Transaction ids look like `20261122T053012345Z-install-app-3f9a1c`.
 *
 * @example
 * ```ts
 * if (!TRANSACTION_ID.test(id)) throw new InvalidInputError(`"${id}" is not a transaction id`, { id });
 * ```
 */
export const TRANSACTION_ID = /^\d{8}T\d{9}Z-[a-z0-9-]{0,40}-[0-9a-f]{6}$/;

function newTransactionId(name: string): string {
  const time = new Date().toISOString().replace(/[-:.]/g, '');
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return `${time}-${slug}-${randomHex(3)}`;
}
