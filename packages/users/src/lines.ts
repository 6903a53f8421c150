import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, basename, join } from 'node:path';
import * as t from 'io-ts';
import { syncDirectory, VerificationError } from '@unwind/core';
import { dbPath, keyOf, readLines, type DbFile } from './db.js';
import { ShadowLockError } from './errors.js';

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

/**
 * Puts every captured key back exactly (same bytes, same place) in its
 * file, under the shadow tools' own `<file>.lock` protocol, with an atomic
 * synced replace that keeps the file's mode and owner. Writes nothing when
 * the file already holds the captured lines.
 */
export async function restoreLines(prefix: string | undefined, captured: CapturedLines[], signal?: AbortSignal): Promise<void> {
  const byFile = new Map<DbFile, CapturedLines[]>();
  for (const c of captured) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c]);
  for (const [file, entries] of byFile) {
    const path = dbPath(prefix, file);
    if (!fs.existsSync(path)) continue;
    if (sameAsCaptured(readLines(path), entries)) continue;
    const release = await lockFile(path, signal);
    try {
      const current = readLines(path);
      const next = applyCaptured(current, entries);
      if (next.join('\n') !== current.join('\n')) replaceFile(path, next.length ? `${next.join('\n')}\n` : '');
    } finally {
      release();
    }
  }
}

/** Throws VerificationError when a captured key's lines are not back exactly. */
export function verifyLines(prefix: string | undefined, captured: CapturedLines[]): void {
  const byFile = new Map<DbFile, CapturedLines[]>();
  for (const c of captured) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c]);
  for (const [file, entries] of byFile) {
    const path = dbPath(prefix, file);
    const lines = readLines(path);
    for (const c of entries) {
      const now = lines.filter((l) => keyOf(l) === c.key);
      if (now.join('\n') !== c.lines.join('\n')) throw new VerificationError(`${path}: the entry of "${c.key}" is not back to its previous state`, { path, key: c.key });
    }
  }
}

function sameAsCaptured(lines: string[], entries: CapturedLines[]): boolean {
  return applyCaptured(lines, entries).join('\n') === lines.join('\n');
}

function replaceFile(path: string, content: string): void {
  const st = fs.statSync(path);
  const tmp = join(dirname(path), `.${basename(path)}.unwind-${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.fchownSync(fd, st.uid, st.gid);
    fs.fchmodSync(fd, st.mode & 0o7777);
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, path);
  syncDirectory(dirname(path));
}

/**
 * Takes `<path>.lock` the way shadow's commonio does: a file holding our pid,
 * linked into place so the creation is atomic; a lock whose pid is dead is
 * stale and removed. Retries for a few seconds, then ShadowLockError.
 */
async function lockFile(path: string, signal?: AbortSignal): Promise<() => void> {
  const lock = `${path}.lock`;
  const mine = `${path}.lock.${process.pid}`;
  fs.writeFileSync(mine, String(process.pid));
  try {
    for (let i = 0; ; i++) {
      try {
        fs.linkSync(mine, lock);
        return () => fs.rmSync(lock, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = Number.parseInt(fs.readFileSync(lock, 'utf8').trim(), 10);
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (i >= 50 || signal?.aborted) throw new ShadowLockError(path, `pid ${holder}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
