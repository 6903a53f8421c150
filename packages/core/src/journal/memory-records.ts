import type { JournalRecord } from './records.js';

/** Record kinds kept as values; any other record is kept as the object itself. */
const OTHER = 0;
const PREPARED = 1;
const DONE = 2;
const VERIFIED = 3;
/** How many values each kind of record takes (see add). */
const VALUES = [2, 8, 5, 3];
/** The most values a record takes. */
const MOST = 8;

/**
 * Values in the first chunk; each next one has room for twice as many, up
 * to the last size (64 KiB), then stays. A chunk above 128 KiB is a V8
 * large object, mapped fresh from the system each time, its pages faulted
 * in one by one: 16,384 values a chunk cost 74 ms in 600,000 steps.
 */
const FIRST_CHUNK = 256;
const LAST_CHUNK = 8192;

/** Records one after the other: each one's values in `values[0..used]`. */
interface Chunk {
  readonly values: unknown[];
  used: number;
}

function newChunk(size: number): Chunk {
  return { values: new Array<unknown>(size), used: 0 };
}

/**
 * A memory journal's records, kept compactly: the three records every step
 * writes (`prepared`, `done`, `verified`) as values one after the other in
 * an array — kind, step, time, then description, arguments, before or
 * after — and the few others as the objects appended. A record object, and
 * the number its time takes, per record kept for the whole of a long
 * transaction was six objects per step that every garbage collection
 * copied or marked again: the per-step cost of a 100,000-step transaction
 * was twice a 1,000-step one's (bench/core-scaling.mjs). A time is kept as
 * milliseconds since the first record's, a small integer that needs no
 * object of its own. The array grows by chunks, each one allocated with
 * room for what it will hold: never copied as it fills.
 *
 * `view` is what a reader gets: one plain array, made as it is read; each
 * read first adds the records appended since the last one, and the records
 * it made are kept and read back as the same objects. (A proxy kept the
 * array live without a read, but a proxy cannot be cloned: `structuredClone`
 * of the records threw.) A record
 * carries the fields of its kind (see `JournalRecordBody`) in the order
 * the runner writes them; other properties of an appended object are not
 * kept.
 */
export class MemoryRecords {
  private readonly chunks: Chunk[] = [newChunk(FIRST_CHUNK)];
  private last = this.chunks[0]!;
  private count = 0;
  /** The first record's time: the others are kept as milliseconds since. */
  private base = 0;
  /** The records made so far, in order: what `view` returns. */
  private readonly made: JournalRecord[] = [];
  /** Where the next record to make is: its chunk, and its first value there. */
  private readChunk = 0;
  private readValue = 0;

  /**
   * The records, made as far as appended: one plain array, the same each
   * time, which this read brings up to date (a reference kept from an
   * earlier read shows the records appended since once `records` is read
   * again). Not a proxy, so it clones, serialises and prints as an array.
   */
  get view(): readonly JournalRecord[] {
    this.sync();
    return this.made;
  }

  /** How many records were appended. */
  get length(): number {
    return this.count;
  }

  /** Keeps `record`, the next one (its `seq` is one more than the count so far). */
  add(record: JournalRecord): void {
    let chunk = this.last;
    if (chunk.used + MOST > chunk.values.length) {
      chunk = newChunk(Math.min(chunk.values.length * 2, LAST_CHUNK));
      this.chunks.push(chunk);
      this.last = chunk;
    }
    if (this.count === 0) this.base = record.at;
    const v = chunk.values;
    const i = chunk.used;
    switch (record.kind) {
      case 'prepared':
        v[i] = PREPARED;
        v[i + 1] = record.step;
        v[i + 2] = record.at - this.base;
        v[i + 3] = record.type;
        v[i + 4] = record.package;
        v[i + 5] = record.description;
        v[i + 6] = record.args;
        v[i + 7] = record.before;
        break;
      case 'done':
        v[i] = DONE;
        v[i + 1] = record.step;
        v[i + 2] = record.at - this.base;
        v[i + 3] = record.after;
        v[i + 4] = record.attempts;
        break;
      case 'verified':
        v[i] = VERIFIED;
        v[i + 1] = record.step;
        v[i + 2] = record.at - this.base;
        break;
      default:
        v[i] = OTHER;
        v[i + 1] = record;
    }
    chunk.used = i + VALUES[v[i] as number]!;
    this.count++;
  }

  /** Makes the records appended since the last read, in order. */
  private sync(): void {
    while (this.made.length < this.count) {
      let chunk = this.chunks[this.readChunk]!;
      if (this.readValue === chunk.used) {
        chunk = this.chunks[++this.readChunk]!;
        this.readValue = 0;
      }
      const record = this.record(chunk.values, this.readValue, this.made.length + 1);
      this.readValue += VALUES[chunk.values[this.readValue] as number]!;
      this.made.push(record);
    }
  }

  /** The record whose values start at `i` in `v`. */
  private record(v: unknown[], i: number, seq: number): JournalRecord {
    const step = v[i + 1] as number;
    const at = this.base + (v[i + 2] as number);
    switch (v[i]) {
      case PREPARED:
        return { kind: 'prepared', step, type: v[i + 3] as string, package: v[i + 4] as string, description: v[i + 5] as string, args: v[i + 6], before: v[i + 7], seq, at };
      case DONE:
        return { kind: 'done', step, after: v[i + 3], attempts: v[i + 4] as number, seq, at };
      case VERIFIED:
        return { kind: 'verified', step, seq, at };
      default:
        return v[i + 1] as JournalRecord;
    }
  }
}
