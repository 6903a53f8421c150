import { crc32 } from 'node:zlib';
import type { SerializedError } from '../errors.js';

/**
 * The journal format this code writes and reads.
 *
 * @example
 * ```ts
 * if (first.kind === 'begin' && first.format !== JOURNAL_FORMAT) throw new UnsupportedJournalFormatError(path, first.format, [JOURNAL_FORMAT, REUSED_JOURNAL_FORMAT]);
 * ```
 */
export const JOURNAL_FORMAT = 1;

/**
 * The format of a journal written over an earlier one's file (see
 * `fileJournal`): as {@link JOURNAL_FORMAT}, except that the checksum of
 * every line after `begin` is bound to the transaction's id (see
 * {@link bindingOf}), so that no line of the earlier journal can pass for
 * one of this one.
 *
 * @example
 * ```ts
 * const bind = first.format === REUSED_JOURNAL_FORMAT ? bindingOf(first.id) : undefined;
 * ```
 */
export const REUSED_JOURNAL_FORMAT = 2;

/**
 * The largest journal file kept to be reused: one block, a small
 * transaction's journal with its first reserve. Zeroing a larger one costs
 * more than a new file saves, and a long transaction's journal is not kept
 * on disk once removed. So an earlier journal's lines can only be found in
 * a reused file's first this many bytes.
 */
export const REUSABLE_LARGEST = 4096;

/**
 * How a finished transaction ended.
 *
 * @example
 * ```ts
 * const ended: EndStatus | undefined = analyzeRecords(records).ended; // undefined while unfinished
 * ```
 */
export type EndStatus = 'committed' | 'rolled-back';

/**
 * One journal record. Every record also carries `seq` (1, 2, 3, … with no
 * gaps) and `at` (ms since the epoch). Step values (`args`, `before`, `after`)
 * are stored encoded with the step kind's codecs.
 *
 * @example
 * ```ts
 * const body: JournalRecordBody = { kind: 'rollback', reason: serializeError(error) };
 * journal.append(body, true); // returns the JournalRecord with seq and at
 * ```
 */
export type JournalRecordBody =
  | { kind: 'begin'; format: number; id: string; name: string; pid: number; host: string; meta?: Record<string, unknown> }
  | { kind: 'prepared'; step: number; type: string; package: string; description: string; args: unknown; before: unknown }
  | { kind: 'done'; step: number; after: unknown; attempts: number }
  | { kind: 'verified'; step: number }
  | { kind: 'failed'; step: number; error: SerializedError; attempts: number }
  | { kind: 'commit-point' }
  | { kind: 'commit-done'; step: number }
  | { kind: 'commit-failed'; step: number; error: SerializedError }
  | { kind: 'committed' }
  | { kind: 'rollback'; reason: SerializedError }
  | { kind: 'undone'; step: number; attempts: number }
  | { kind: 'undo-failed'; step: number; error: SerializedError; attempts: number }
  | { kind: 'rollback-failed'; remaining: number[] }
  | { kind: 'end'; status: EndStatus };

/**
 * A record as stored: its body plus sequence number and time.
 *
 * @example
 * ```ts
 * for (const r of readJournalFile(path).records) console.log(r.seq, new Date(r.at).toISOString(), r.kind);
 * ```
 */
export type JournalRecord = JournalRecordBody & { seq: number; at: number };

/**
 * The kinds of record, e.g. `prepared`.
 *
 * @example
 * ```ts
 * const kinds: RecordKind[] = readJournalFile(path).records.map((r) => r.kind); // ['begin', 'prepared', ...]
 * ```
 */
export type RecordKind = JournalRecordBody['kind'];

/**
 * Makes a body the record `seq`, stamped with the time: in place (the
 * runner hands over a fresh literal), with no copy and no second object
 * per record.
 *
 * @example
 * ```ts
 * const record = stamp({ kind: 'verified', step: 0 }, 4); // { kind: 'verified', step: 0, seq: 4, at: 1764... }
 * ```
 */
export function stamp(body: JournalRecordBody, seq: number): JournalRecord {
  const record = body as JournalRecord;
  record.seq = seq;
  record.at = Date.now();
  return record;
}

/**
 * Encodes a record as one line: `<crc32 hex> <json>\n`. The checksum covers
 * the JSON exactly as written.
 *
 * @example
 * ```ts
 * const line = encodeLine({ kind: 'verified', step: 0, seq: 4, at: Date.now() }); // '<crc32 hex> {"kind":"verified",...}\n'
 * ```
 */
export function encodeLine(record: JournalRecord): string {
  return encodeBoundLine(record, 0);
}

/**
 * {@link encodeLine} with the checksum bound to a transaction (`bind`, see
 * {@link bindingOf}): the lines after `begin` of a
 * {@link REUSED_JOURNAL_FORMAT} journal. A `bind` of 0 binds to nothing.
 *
 * @example
 * ```ts
 * const line = encodeBoundLine({ kind: 'verified', step: 0, seq: 4, at: Date.now() }, bindingOf(id));
 * ```
 */
export function encodeBoundLine(record: JournalRecord, bind: number): string {
  const json = JSON.stringify(record);
  return `${checksum(json, bind)} ${json}\n`;
}

/** The checksum of a line's JSON part, bound to a transaction with `bind` (see bindingOf). */
export function checksum(json: string, bind = 0): string {
  return crc32(json, bind).toString(16).padStart(8, '0');
}

/**
 * What binds a line's checksum to transaction `id`: the CRC-32 of the id,
 * from which the line's is continued, so the checksum is that of the id
 * followed by the JSON. A line bound to another transaction fails the check.
 *
 * @example
 * ```ts
 * const bind = bindingOf(id);
 * decodeBoundLine(encodeBoundLine(record, bind).trimEnd(), bind); // the record
 * decodeLine(encodeBoundLine(record, bind).trimEnd()); // undefined: bound to a transaction
 * ```
 */
export function bindingOf(id: string): number {
  // Never 0, which binds to nothing (one id in 2^32 has a CRC of 0).
  return crc32(id) || 1;
}

/**
 * Parses one line; `undefined` when its checksum or JSON is bad.
 *
 * @example
 * ```ts
 * decodeLine(encodeLine(record).trimEnd()); // the record again (pass the line without its newline)
 * decodeLine('deadbeef {"seq":4}'); // undefined: checksum mismatch
 * ```
 */
export function decodeLine(line: string): JournalRecord | undefined {
  return decodeBoundLine(line, 0);
}

/**
 * {@link decodeLine} of a line whose checksum is bound to a transaction
 * (`bind`, see {@link bindingOf}); `undefined` for a line bound to another.
 *
 * @example
 * ```ts
 * decodeBoundLine(line, bindingOf(id)); // the record, if the line is one of transaction id's
 * ```
 */
export function decodeBoundLine(line: string, bind: number): JournalRecord | undefined {
  const space = line.indexOf(' ');
  if (space !== 8) return undefined;
  const json = line.slice(9);
  if (checksum(json, bind) !== line.slice(0, 8)) return undefined;
  try {
    const value = JSON.parse(json) as JournalRecord;
    if (typeof value !== 'object' || value === null || typeof value.seq !== 'number' || typeof value.kind !== 'string') return undefined;
    return value;
  } catch {
    return undefined;
  }
}
