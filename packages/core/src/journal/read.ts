import * as fs from 'node:fs';
import { JournalCorruptError, UnsupportedJournalFormatError, UntrustedJournalError } from '../errors.js';
import { SECTOR_SIZE } from '../durable.js';
import { JOURNAL_FORMAT, REUSABLE_LARGEST, REUSED_JOURNAL_FORMAT, bindingOf, decodeBoundLine, type JournalRecord } from './records.js';

/**
 * A journal file read back.
 *
 * @example
 * ```ts
 * const { records, tornTail, validLength }: JournalContents = readJournalFile(path);
 * if (tornTail) console.warn(`${path}: torn last line after byte ${validLength} ignored`);
 * ```
 */
export interface JournalContents {
  records: JournalRecord[];
  /** Byte length of the valid part (everything before a torn last line or the reserved zeros). */
  validLength: number;
  /** Whether a torn last line was found and ignored. */
  tornTail: boolean;
  /**
   * Whether bytes other than zeros follow the valid part: a torn last line,
   * or in a journal written over an earlier one's file, that journal's lines
   * after a first sector of its own (see {@link REUSED_JOURNAL_FORMAT}). A
   * writer that appends cuts them off first.
   */
  strayBytes: boolean;
}

/**
 * Reads and checks a journal file. A torn last line (a crash mid-append: the
 * final line, without its newline) is ignored: it was never acknowledged; so
 * is a line holding NUL bytes and everything after it (a power cut lost an
 * un-synced block of the file). Zeros alone after the last record are the
 * space the writer reserves ahead of its records: neither torn nor counted
 * in `validLength`. A bad line anywhere else — the last one
 * included when it ends with its newline, since a record is complete only
 * with its newline — a gap in the sequence, or an unknown format is refused
 * with the line number.
 *
 * A journal written over an earlier one's file ({@link REUSED_JOURNAL_FORMAT})
 * has its lines bound to its id, and its writer zeroes the earlier lines in
 * a synced write: its first, or, when its first records fit in the first
 * sector, the next (the earlier lines after that sector stay until then:
 * no torn record, but `strayBytes`). Until that sync returns, a power cut
 * can leave earlier lines after any of its records in that write (a disk
 * keeps the sectors of a block in any order). So there a bad line where such
 * a mix can be (within the earlier file's size, starting at or crossing a sector
 * boundary) with no line of this journal after it ends the journal like a
 * torn one: the write that made this journal's lines durable covered it and
 * every byte after it, so nothing of it was acknowledged. Anywhere else, a
 * bad line is corruption, as in a journal of its own file.
 *
 * @example
 * ```ts
 * const { records } = readJournalFile('/var/lib/app/unwind/20261122-…/journal.jsonl');
 * ```
 */
export function readJournalFile(path: string): JournalContents {
  const fd = openJournal(path);
  try {
    checkJournalFile(path, fs.fstatSync(fd));
    return parseJournal(path, fs.readFileSync(fd, 'utf8'));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The most a journal file may hold: about as much as one string can (V8's
 * limit is near 512 MiB), some 800,000 steps' records. A larger file is
 * refused before it is read, not read until memory runs out.
 */
const LARGEST_JOURNAL = 500 * 1024 * 1024;

// O_NOFOLLOW: a journal file swapped for a symlink is never read. O_NONBLOCK: a FIFO put in its
// place does not hang the open (fstat then refuses it).
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

function openJournal(path: string): number {
  try {
    return fs.openSync(path, READ_FLAGS);
  } catch (error) {
    throw refusedOpen(path, error);
  }
}

function refusedOpen(path: string, error: unknown): unknown {
  if ((error as NodeJS.ErrnoException).code === 'ELOOP') return new UntrustedJournalError(`journal ${path} is a symlink; never read`, { path });
  return error;
}

/** Only a regular file of a size a journal can have is read: never a FIFO, a device or a symlink's target. */
function checkJournalFile(path: string, st: { isFile(): boolean; size: number | bigint }): void {
  if (!st.isFile()) throw new UntrustedJournalError(`journal ${path} is not a regular file; never read`, { path });
  if (Number(st.size) > LARGEST_JOURNAL) throw new UntrustedJournalError(`journal ${path} holds ${st.size} bytes, more than a journal may (${LARGEST_JOURNAL}); never read`, { path, size: Number(st.size) });
}

/**
 * Parses journal text; see {@link readJournalFile}.
 *
 * @example
 * ```ts
 * const text = [begin, prepared, done].map(encodeLine).join('');
 * parseJournal('journal.jsonl', text).records.map((r) => r.kind); // ['begin', 'prepared', 'done']
 * ```
 */
export function parseJournal(path: string, text: string): JournalContents {
  const parser = new JournalParser(path, text);
  while (!parser.parse(Infinity));
  return parser.contents();
}

/**
 * {@link readJournalFile} that gives the event loop back while it parses: a
 * journal of 100,000 steps takes about half a second to check, which
 * `recover()` of such a journal held the loop for in one go. `pause` is
 * asked every thousand lines whether to yield (and returns the promise to
 * await when so). Internal.
 *
 * @example
 * ```ts
 * const slices = new LoopSlices();
 * const contents = await readJournalFileSliced(path, () => (slices.due() ? slices.pause() : undefined));
 * ```
 */
export async function readJournalFileSliced(path: string, pause: () => Promise<void> | undefined): Promise<JournalContents> {
  // Read off the loop (libuv's pool): 30 MB take 0.1 s.
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path, READ_FLAGS);
  } catch (error) {
    throw refusedOpen(path, error);
  }
  let text: string;
  try {
    checkJournalFile(path, await handle.stat());
    text = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
  const parser = new JournalParser(path, text);
  while (!parser.parse(1000)) await pause();
  return parser.contents();
}

/** The parse, a bounded number of lines at a time. */
class JournalParser {
  private readonly records: JournalRecord[] = [];
  private offset = 0;
  private lineNumber = 0;
  private tornTail = false;
  private strayBytes = false;
  private ended = false;
  /** For a reused journal, what binds its lines' checksums to its id (see bindingOf); 0 binds to nothing. */
  private bind = 0;

  constructor(
    private readonly path: string,
    private readonly text: string,
  ) {}

  /** Parses up to `lines` more lines; true once the whole text is parsed. */
  parse(lines: number): boolean {
    const { text, records, path } = this;
    for (let count = 0; count < lines; count++) {
      if (this.ended || this.offset >= text.length) return (this.ended = true);
      this.lineNumber++;
      const newline = text.indexOf('\n', this.offset);
      const line = text.slice(this.offset, newline === -1 ? text.length : newline);
      const record = newline === -1 ? undefined : decodeBoundLine(line, this.bind);
      if (record === undefined) {
        // Only a line the writer never finished (no newline) is torn; a complete bad line is corruption.
        // A NUL byte is a block of an append that never reached the disk (the file's size did): no
        // fdatasync returned after it, or that block would be there, so neither it nor anything after
        // it was ever acknowledged. It ends the journal like a torn last line.
        if (newline === -1 || line.includes('\0')) {
          // Nothing but zeros to the end is the space the writer reserved for the next records, not a torn line.
          this.strayBytes = !onlyZerosFrom(text, this.offset);
          this.tornTail = this.strayBytes && !this.earlierLinesAfterFirstSector();
          return (this.ended = true);
        }
        if (this.bind !== 0 && this.mayBeEarlierLines(line) && !this.anyLineAfter(newline + 1)) {
          this.tornTail = this.strayBytes = true;
          return (this.ended = true);
        }
        throw new JournalCorruptError(path, this.lineNumber, 'checksum mismatch or malformed record');
      }
      if (record.seq !== records.length + 1) {
        throw new JournalCorruptError(path, this.lineNumber, `sequence number ${record.seq} where ${records.length + 1} was expected`);
      }
      if (records.length === 0) {
        if (record.kind !== 'begin') throw new JournalCorruptError(path, this.lineNumber, `first record is "${record.kind}", not "begin"`);
        // Whoever reads a journal uses its id (to name it, to bind its lines): only ever a string.
        if (typeof record.id !== 'string') throw new JournalCorruptError(path, this.lineNumber, 'the begin record has no id');
        if (record.format === REUSED_JOURNAL_FORMAT) {
          this.bind = bindingOf(record.id);
        } else if (record.format !== JOURNAL_FORMAT) {
          throw new UnsupportedJournalFormatError(path, record.format, [JOURNAL_FORMAT, REUSED_JOURNAL_FORMAT]);
        }
      }
      records.push(record);
      this.offset = newline + 1;
    }
    return this.ended || this.offset >= this.text.length;
  }

  /**
   * Whether `line`, starting at the parser's offset, is where a torn first
   * write can have left an earlier journal's bytes: in the bytes an earlier
   * journal can have used, and starting at or crossing a sector boundary
   * (within a sector, the disk kept either all of the new bytes or none).
   */
  private mayBeEarlierLines(line: string): boolean {
    const start = Buffer.byteLength(this.text.slice(0, this.offset));
    const end = start + Buffer.byteLength(line);
    return start < REUSABLE_LARGEST && (start % SECTOR_SIZE === 0 || Math.floor(start / SECTOR_SIZE) !== Math.floor(end / SECTOR_SIZE));
  }

  /**
   * Whether the zeros at the parser's offset are those a reused journal's
   * first synced write put after its records, to the first sector's end, and
   * what follows is the earlier journal's (no line of this one): the file
   * between that write and the next, which covers them. Not a torn record.
   */
  private earlierLinesAfterFirstSector(): boolean {
    if (this.bind === 0) return false;
    const start = Buffer.byteLength(this.text.slice(0, this.offset));
    if (start >= SECTOR_SIZE) return false;
    const sectorEnd = this.offset + (SECTOR_SIZE - start); // zeros are one byte each
    return onlyZerosBetween(this.text, this.offset, sectorEnd) && !this.anyLineAfter(sectorEnd);
  }

  /** Whether a line of this journal (bound to its id) is anywhere from `offset` on. */
  private anyLineAfter(offset: number): boolean {
    const { text } = this;
    while (offset < text.length) {
      const newline = text.indexOf('\n', offset);
      if (newline === -1) return false;
      if (decodeBoundLine(text.slice(offset, newline), this.bind) !== undefined) return true;
      offset = newline + 1;
    }
    return false;
  }

  contents(): JournalContents {
    return { records: this.records, validLength: Buffer.byteLength(this.text.slice(0, this.offset)), tornTail: this.tornTail, strayBytes: this.strayBytes };
  }
}

function onlyZerosFrom(text: string, offset: number): boolean {
  return onlyZerosBetween(text, offset, text.length);
}

function onlyZerosBetween(text: string, from: number, to: number): boolean {
  for (let index = from; index < to; index++) if (text.charCodeAt(index) !== 0) return false;
  return true;
}
