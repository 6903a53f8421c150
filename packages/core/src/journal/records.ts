import { crc32 } from 'node:zlib';
import type { SerializedError } from '../errors.js';

/**
 * The journal format this code writes and reads.
 *
 * @example
 * ```ts
 * if (first.kind === 'begin' && first.format !== JOURNAL_FORMAT) throw new UnsupportedJournalFormatError(path, first.format, JOURNAL_FORMAT);
 * ```
 */
export const JOURNAL_FORMAT = 1;

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
  const json = JSON.stringify(record);
  return `${checksum(json)} ${json}\n`;
}

/** The checksum of a line's JSON part. */
export function checksum(json: string): string {
  return crc32(json).toString(16).padStart(8, '0');
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
  const space = line.indexOf(' ');
  if (space !== 8) return undefined;
  const json = line.slice(9);
  if (checksum(json) !== line.slice(0, 8)) return undefined;
  try {
    const value = JSON.parse(json) as JournalRecord;
    if (typeof value !== 'object' || value === null || typeof value.seq !== 'number' || typeof value.kind !== 'string') return undefined;
    return value;
  } catch {
    return undefined;
  }
}
