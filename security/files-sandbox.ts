import * as fs from 'node:fs';
import { join } from 'node:path';
import { JOURNAL_FORMAT, encodeLine, type JournalRecord, type JournalRecordBody } from '@unwind/core';
import { temporaryDirectory, treeState } from '@unwind/core/testing';

/**
 * A sandbox for the files and snapshots security cases: `dir` (what the
 * steps may change), `journal` (a 0700 journal root), and a decoy tree
 * OUTSIDE the sandbox that no case may change, with a way to hash it.
 */
export interface FilesSandbox {
  dir: string;
  journal: string;
  decoy: string;
  /** Type, mode, owner and content of every decoy path. */
  decoyState(): unknown;
  cleanup(): void;
}

/** Makes a fresh sandbox and decoy tree. */
export function filesSandbox(): FilesSandbox {
  const base = temporaryDirectory('unwind-security-files-');
  const outside = temporaryDirectory('unwind-security-decoy-');
  const dir = join(base.path, 'tree');
  const journal = join(base.path, 'journal');
  fs.mkdirSync(dir);
  fs.mkdirSync(journal, { mode: 0o700 });
  const decoy = outside.path;
  fs.writeFileSync(join(decoy, 'shadow'), 'root:$6$precious:19000:0:99999:7:::\n', { mode: 0o640 });
  fs.mkdirSync(join(decoy, 'etc'), { mode: 0o755 });
  fs.writeFileSync(join(decoy, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n', { mode: 0o644 });
  fs.mkdirSync(join(decoy, 'store'), { mode: 0o700 });
  fs.writeFileSync(join(decoy, 'store', 'keep.me'), 'data\n');
  return {
    dir,
    journal,
    decoy,
    decoyState: () => treeState(decoy),
    cleanup: () => {
      base.remove();
      outside.remove();
    },
  };
}

/** One step of a crafted journal. */
export interface CraftedFileStep {
  type: string;
  args: unknown;
  before: unknown;
  after?: unknown;
}

let counter = 0;

/** Writes a journal with valid checksums (core's own encodeLine) naming the given steps; returns its transaction directory. */
export function craftFilesJournal(journalRoot: string, steps: CraftedFileStep[], options: { commitPoint?: boolean } = {}): { id: string; directory: string } {
  const id = `20261203T000000000Z-crafted-files-${(++counter).toString(16).padStart(6, '0').slice(-6)}`;
  const directory = join(journalRoot, id);
  fs.mkdirSync(directory, { mode: 0o700 });
  const bodies: JournalRecordBody[] = [{ kind: 'begin', format: JOURNAL_FORMAT, id, name: 'crafted', pid: 2 ** 22 + 1, host: 'crafted' }];
  steps.forEach((s, step) => {
    bodies.push({ kind: 'prepared', step, type: s.type, package: `@unwind/${s.type.split('.')[0]}`, description: 'crafted', args: s.args, before: s.before });
    if (s.after !== undefined) bodies.push({ kind: 'done', step, after: s.after, attempts: 1 });
  });
  if (options.commitPoint) bodies.push({ kind: 'commit-point' });
  const text = bodies.map((b, i) => encodeLine({ ...b, seq: i + 1, at: Date.now() } as JournalRecord)).join('');
  fs.writeFileSync(join(directory, 'journal.jsonl'), text, { mode: 0o600 });
  return { id, directory };
}
