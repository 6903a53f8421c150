import { inspect } from 'node:util';
import type { JournalRecord } from './records.js';

/** Record kinds kept as columns; any other record is kept as the object itself. */
const PREPARED = 1;
const DONE = 2;
const VERIFIED = 3;
const OTHER = 0;

/**
 * A memory journal's records, kept compactly: the three records every step
 * writes (`prepared`, `done`, `verified`) as columns — kind, step and time
 * in typed arrays, the values (description, arguments, before, after) in
 * one array — and the few others as the objects appended. A record object,
 * and the number its time takes, per record kept for the whole of a long
 * transaction was six objects per step that every garbage collection
 * copied or marked again: the per-step cost of a 100,000-step transaction
 * was twice a 1,000-step one's (bench/core-scaling.mjs).
 *
 * `view` is what a reader gets: an array made as it is read. Every read
 * goes through a proxy that first adds the records appended since the last
 * read, so the array stays live, as a plain array of the records was; the
 * records it made are kept and read back as the same objects. A record
 * carries the fields of its kind (see `JournalRecordBody`) in the
 * order the runner writes them; other properties of an appended object are
 * not kept.
 */
export class MemoryRecords {
  private kinds = new Uint8Array(64);
  private steps = new Int32Array(64);
  private ats = new Float64Array(64);
  /** Where each record's values start in `values`. */
  private starts = new Int32Array(64);
  private readonly values: unknown[] = [];
  private count = 0;
  /** The records made so far, in order: the proxy's target. */
  private readonly made: JournalRecord[] = [];
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
    const index = this.count;
    if (index === this.kinds.length) this.grow();
    this.ats[index] = record.at;
    this.starts[index] = this.values.length;
    switch (record.kind) {
      case 'prepared':
        this.kinds[index] = PREPARED;
        this.steps[index] = record.step;
        this.values.push(record.type, record.package, record.description, record.args, record.before);
        break;
      case 'done':
        this.kinds[index] = DONE;
        this.steps[index] = record.step;
        this.values.push(record.after, record.attempts);
        break;
      case 'verified':
        this.kinds[index] = VERIFIED;
        this.steps[index] = record.step;
        break;
      default:
        this.kinds[index] = OTHER;
        this.values.push(record);
    }
    this.count = index + 1;
  }

  /** Makes the records appended since the last read. */
  private sync(): void {
    for (let index = this.made.length; index < this.count; index++) this.made.push(this.record(index));
  }

  private record(index: number): JournalRecord {
    const v = this.values;
    const i = this.starts[index]!;
    const step = this.steps[index]!;
    const seq = index + 1;
    const at = this.ats[index]!;
    switch (this.kinds[index]) {
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

  /** Doubles the columns: amortised, each record is copied once on average (typed arrays, outside the garbage-collected heap). */
  private grow(): void {
    const size = this.kinds.length * 2;
    const kinds = new Uint8Array(size);
    kinds.set(this.kinds);
    const steps = new Int32Array(size);
    steps.set(this.steps);
    const ats = new Float64Array(size);
    ats.set(this.ats);
    const starts = new Int32Array(size);
    starts.set(this.starts);
    this.kinds = kinds;
    this.steps = steps;
    this.ats = ats;
    this.starts = starts;
  }
}
