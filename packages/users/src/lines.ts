import * as fs from 'node:fs';
import * as t from 'io-ts';
import { dbPath, keyOf, readLines, type DbFile } from './db.js';

/**
 * The exact lines of one key (user or group name) in one database file, and
 * where they stood, captured before a change so undo can put them back
 * byte for byte at the same place.
 */
export const CapturedLines = t.type({
  file: t.union([t.literal('passwd'), t.literal('shadow'), t.literal('group'), t.literal('gshadow'), t.literal('subuid'), t.literal('subgid')]),
  key: t.string,
  /** The lines with this key, in order; empty when the key was absent. */
  lines: t.array(t.string),
  /** The key of the line just before them (null: they were first). */
  prev: t.union([t.string, t.null]),
  /** The key of the line just after them (null: they were last), used when the previous line has gone. */
  next: t.union([t.string, t.null]),
  /** Their index, used when both neighbours have gone. */
  index: t.number,
});
/** See {@link CapturedLines}. */
export type CapturedLines = t.TypeOf<typeof CapturedLines>;

/** Which keys of which files a step touches. */
export type Touched = Partial<Record<DbFile, Iterable<string>>>;

/** Captures the current lines of every touched key. Read-only. Files that do not exist are skipped. */
export function captureLines(prefix: string | undefined, touched: Touched): CapturedLines[] {
  const out: CapturedLines[] = [];
  for (const [file, keys] of Object.entries(touched) as Array<[DbFile, Iterable<string>]>) {
    const path = dbPath(prefix, file);
    if (!fs.existsSync(path)) continue;
    const lines = readLines(path);
    for (const key of new Set(keys)) {
      const first = lines.findIndex((l) => keyOf(l) === key);
      const mine = lines.filter((l) => keyOf(l) === key);
      const index = first < 0 ? lines.length : first;
      const after = first < 0 ? undefined : lines.slice(first).find((l) => keyOf(l) !== key);
      out.push({ file, key, lines: mine, prev: first > 0 ? keyOf(lines[first - 1]!) : null, next: after === undefined ? null : keyOf(after), index });
    }
  }
  return out;
}

/** `lines` with every captured key put back as it was. */
export function applyCaptured(lines: string[], captured: CapturedLines[]): string[] {
  const keys = new Set(captured.map((c) => c.key));
  const result = lines.filter((l) => !keys.has(keyOf(l)));
  // In their old order, so a captured line whose neighbour was captured too finds it already back.
  for (const c of [...captured].sort((a, b) => a.index - b.index)) {
    if (c.lines.length === 0) continue;
    let at: number;
    if (c.prev === null) at = 0;
    else {
      let last = -1;
      result.forEach((l, i) => { if (keyOf(l) === c.prev) last = i; });
      const next = c.next === null ? -1 : result.findIndex((l) => keyOf(l) === c.next);
      at = last >= 0 ? last + 1 : next >= 0 ? next : Math.min(c.index, result.length);
    }
    result.splice(at, 0, ...c.lines);
  }
  return result;
}

