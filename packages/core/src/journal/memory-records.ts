import { inspect } from 'node:util';
import type { JournalRecord } from './records.js';

/** Record kinds kept as columns; any other record is kept as the object itself. */
const OTHER = 0;
const PREPARED = 1;
const DONE = 2;
const VERIFIED = 3;
/** How many values each kind keeps in `values` (see add). */
const VALUES = [1, 5, 2, 0];

/** Records in the first chunk; each next one holds twice as many, up to the last size, then stays. */
const FIRST_CHUNK = 64;
const LAST_CHUNK = 4096;

/** Some records in columns: kind, step and time, and their values, one after the other. */
interface Chunk {
  readonly kinds: Uint8Array;
  readonly steps: Int32Array;
  readonly ats: Float64Array;
  /** Room for three values a record (a step's three records keep seven); a chunk is full when either runs out. */
  readonly values: unknown[];
  count: number;
  used: number;
}

function newChunk(size: number): Chunk {
  return { kinds: new Uint8Array(size), steps: new Int32Array(size), ats: new Float64Array(size), values: new Array(size * 3), count: 0, used: 0 };
}

/**
 * A memory journal's records, kept compactly: the three records every step
 * writes (`prepared`, `done`, `verified`) as columns — kind, step and time
 * in typed arrays, the values (description, arguments, before, after) in
 * an array — and the few others as the objects appended. A record object,
 * and the number its time takes, per record kept for the whole of a long
 * transaction was six objects per step that every garbage collection
 * copied or marked again: the per-step cost of a 100,000-step transaction
 * was twice a 1,000-step one's (bench/core-scaling.mjs). The columns grow
 * by chunks, never copied: one twice the size of the last, up to a limit.
 *
 * `view` is what a reader gets: an array made as it is read. Every read
 * goes through a proxy that first adds the records appended since the last
 * read, so the array stays live, as a plain array of the records was; the
 * records it made are kept and read back as the same objects. A record
 * carries the fields of its kind (see `JournalRecordBody`) in the order
 * the runner writes them; other properties of an appended object are not
 * kept.
 */
export class MemoryRecords {
  private readonly chunks: Chunk[] = [newChunk(FIRST_CHUNK)];
  private last = this.chunks[0]!;
  private count = 0;
  /** The records made so far, in order: the proxy's target. */
  private readonly made: JournalRecord[] = [];
  /** Where the next record to make is: its chunk, its place there, and its first value's. */
  private readChunk = 0;
  private readIndex = 0;
  private readValue = 0;
  readonly view: readonly JournalRecord[];

  constructor() {
    const sync = () => this.sync();
    // util.inspect shows a proxy's target without calling its traps: the target brings itself up to date first.
    Object.defineProperty(this.made, inspect.custom, {
      value: (depth: number, options: object) => inspect((sync(), [...this.made]), { ...options, depth }),
    });
    this.view = new Proxy(this.made, {
      get: (target, key, receiver) => (sync(), Reflect.get(target, key, receiver)),
      has: (target, key) => (sync(), Reflect.has(target, key)),
      ownKeys: (target) => (sync(), Reflect.ownKeys(target)),
      getOwnPropertyDescriptor: (target, key) => (sync(), Reflect.getOwnPropertyDescriptor(target, key)),
    });
  }

  /** How many records were appended. */
  get length(): number {
    return this.count;
  }

  /** Keeps `record`, the next one (its `seq` is one more than the count so far). */
  add(record: JournalRecord): void {
    let chunk = this.last;
    if (chunk.count === chunk.kinds.length || chunk.used + 5 > chunk.values.length) {
      chunk = newChunk(Math.min(chunk.kinds.length * 2, LAST_CHUNK));
      this.chunks.push(chunk);
      this.last = chunk;
    }
    const index = chunk.count;
    const values = chunk.values;
    const at = chunk.used;
    chunk.ats[index] = record.at;
    switch (record.kind) {
      case 'prepared':
        chunk.kinds[index] = PREPARED;
        chunk.steps[index] = record.step;
        values[at] = record.type;
        values[at + 1] = record.package;
        values[at + 2] = record.description;
        values[at + 3] = record.args;
        values[at + 4] = record.before;
        break;
      case 'done':
        chunk.kinds[index] = DONE;
        chunk.steps[index] = record.step;
        values[at] = record.after;
        values[at + 1] = record.attempts;
        break;
      case 'verified':
        chunk.kinds[index] = VERIFIED;
        chunk.steps[index] = record.step;
        break;
      default:
        chunk.kinds[index] = OTHER;
        values[at] = record;
    }
    chunk.used += VALUES[chunk.kinds[index]!]!;
    chunk.count = index + 1;
    this.count++;
  }

  /** Makes the records appended since the last read, in order. */
  private sync(): void {
    while (this.made.length < this.count) {
      let chunk = this.chunks[this.readChunk]!;
      if (this.readIndex === chunk.count) {
        chunk = this.chunks[++this.readChunk]!;
        this.readIndex = 0;
        this.readValue = 0;
      }
      const kind = chunk.kinds[this.readIndex]!;
      this.made.push(this.record(chunk, kind, this.readIndex, this.readValue, this.made.length + 1));
      this.readIndex++;
      this.readValue += VALUES[kind]!;
    }
  }

  private record(chunk: Chunk, kind: number, index: number, i: number, seq: number): JournalRecord {
    const v = chunk.values;
    const step = chunk.steps[index]!;
    const at = chunk.ats[index]!;
    switch (kind) {
      case PREPARED:
        return { kind: 'prepared', step, type: v[i] as string, package: v[i + 1] as string, description: v[i + 2] as string, args: v[i + 3], before: v[i + 4], seq, at };
      case DONE:
        return { kind: 'done', step, after: v[i], attempts: v[i + 1] as number, seq, at };
      case VERIFIED:
        return { kind: 'verified', step, seq, at };
      default:
        return v[i] as JournalRecord;
    }
  }
}
