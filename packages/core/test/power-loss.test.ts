import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeLine, type JournalRecord } from '@unwind/core';
import { exploreCrashStates, exploreRecoveryCrashStates, type CrashExplorationOptions } from '@unwind/core/testing';

// Power loss, not SIGKILL: the crash-state explorer builds every state a power
// cut could leave under its model (only synced data and entries are sure to
// survive) and checks recover() gives the before- or the after-state.
// The module of core's test kinds alone: without the vitest-dependent testing index, the explorer's children are bundled (fast to start).
const testing = join(import.meta.dirname, '..', 'src', 'testing', 'kinds.ts');
const seed = Number(process.env.UNWIND_CRASH_SEED ?? 20261203);

function sandboxTree(tree: string): void {
  fs.mkdirSync(join(tree, 'sub'));
  fs.writeFileSync(join(tree, 'a.conf'), 'old a\n', { mode: 0o640 });
  fs.writeFileSync(join(tree, 'old.log'), 'old log\n');
}

const journalRun = (rollback: boolean, retention: CrashExplorationOptions['retention']): CrashExplorationOptions => ({
  name: `core journal: records, blobs, commit point${rollback ? ', rollback' : ''}${retention === 'remove' ? ', removal' : ''}`,
  kindsModule: testing,
  kindsExport: 'testKinds',
  setup: sandboxTree,
  steps: (tree) => [
    { type: 'test.writeMarker', args: { path: join(tree, 'a.conf'), content: 'new a\n' } },
    { type: 'test.writeMarker', args: { path: join(tree, 'sub', 'c.conf'), content: 'new c\n' } },
    { type: 'test.stagedRemove', args: { path: join(tree, 'old.log') } },
  ],
  rollback,
  ...(retention ? { retention } : {}),
  seed,
});

/**
 * Leaves in the journal root what a finished earlier transaction hands on
 * (see fileJournal's retention): its directory as `.reusable`, its journal
 * one block of records and zeros. Its first step made `sub/earlier.conf`,
 * still in the tree: the earlier transaction committed, so a recovery that
 * rolled it back (its journal read without its commit point) would show in
 * the recovered tree. Its second step names the same file as the
 * transaction explored, with another `before`: one of its lines read as the
 * new transaction's would show too.
 */
function reusableDirectory(tree: string): void {
  const root = join(tree, '..', 'journal');
  const dir = join(root, '.reusable');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(root, 0o700);
  const id = '20261205T080000000Z-earlier-abcdef';
  const records: JournalRecord[] = [
    { kind: 'begin', format: 1, id, name: 'earlier', pid: 1, host: 'h', seq: 1, at: 1 },
    { kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core/testing', description: 'write', args: { path: join(tree, 'sub', 'earlier.conf'), content: 'earlier\n' }, before: { existed: false }, seq: 2, at: 2 },
    { kind: 'done', step: 0, after: { bytes: 8 }, attempts: 1, seq: 3, at: 3 },
    { kind: 'verified', step: 0, seq: 4, at: 4 },
    { kind: 'prepared', step: 1, type: 'test.writeMarker', package: '@unwind/core/testing', description: 'write', args: { path: join(tree, 'sub', 'c.conf'), content: 'earlier c\n' }, before: { existed: false }, seq: 5, at: 5 },
    { kind: 'done', step: 1, after: { bytes: 10 }, attempts: 1, seq: 6, at: 6 },
    { kind: 'verified', step: 1, seq: 7, at: 7 },
    { kind: 'commit-point', seq: 8, at: 8 },
    { kind: 'end', status: 'committed', seq: 9, at: 9 },
  ];
  fs.writeFileSync(join(tree, 'sub', 'earlier.conf'), 'earlier\n');
  const text = records.map((record) => encodeLine(record)).join('');
  fs.writeFileSync(join(dir, 'journal.jsonl'), text + '\0'.repeat(4096 - Buffer.byteLength(text)), { mode: 0o600 });
}

const writeLabel = (data: Buffer, offset: number) => `${data.every((byte) => byte === 0) ? 'zeros ' : ''}${data.length}@${offset}`;

/** The reused journal file's writes after the takeover, as `bytes@offset` (`zeros bytes@offset` when that is all they hold), and `sync` for each of its syncs. */
function journalFileWrites(trace: Awaited<ReturnType<typeof exploreCrashStates>>['trace']): string[] {
  const takeover = trace.findIndex((o) => o.op === 'rename' && o.fromName === '.reusable');
  if (takeover === -1) return [];
  const after = trace.slice(takeover);
  const journal = after.find((o) => o.op === 'write' && o.path.endsWith('/journal.jsonl'));
  return after.flatMap((o) => (o.id !== journal?.id ? [] : o.op === 'write' ? [writeLabel(Buffer.from(o.data, 'base64'), o.offset)] : o.op === 'fsync' ? ['sync'] : []));
}

describe('power loss: a transaction that takes over the journal directory an earlier one handed on', () => {
  const newFile = (rollback: boolean): CrashExplorationOptions => ({
    name: `core journal: a reused directory, one step without blobs${rollback ? ', rollback' : ''}, handed on again`,
    kindsModule: testing,
    kindsExport: 'testKinds',
    setup: (tree) => {
      sandboxTree(tree);
      reusableDirectory(tree);
    },
    steps: (tree) => [{ type: 'test.writeMarker', args: { path: join(tree, 'sub', 'c.conf'), content: 'new c\n' } }],
    rollback,
    retention: 'remove',
    seed,
  });
  for (const rollback of [false, true]) {
    it(`${rollback ? 'rolled back' : 'committed'}, its directory then handed on: 0 divergences`, async () => {
      const report = await exploreCrashStates(newFile(rollback));
      // The takeover and the hand-on (renames) are in the trace.
      expect(report.trace.filter((o) => o.op === 'rename').length).toBeGreaterThanOrEqual(2);
      // Its begin and prepared (a long name, a path twice) do not fit in the first sector: that sector is
      // zeroed and synced first, then one write holds them and covers the earlier journal (a block) with zeros.
      expect(journalFileWrites(report.trace).slice(0, 4)).toEqual(['zeros 512@0', 'sync', '4096@0', 'sync']);
      // With retention 'remove' the root is never synced: the explored states include the journal's
      // records under `.reusable`, where recover() must find them (see adoptReusedJournal).
      expect(report.trace.filter((o) => o.op === 'fsync' && o.path.endsWith('/journal'))).toEqual([]);
      expect(report.statesChecked).toBeGreaterThan(10);
      expect(report.divergences).toEqual([]);
    }, 300_000);
  }

  it('an empty transaction (its begin and commit point held for the synced end): 0 divergences', async () => {
    const report = await exploreCrashStates({ ...newFile(false), name: 'core journal: a reused directory, no steps, handed on again', steps: () => [] });
    // Begin, commit point and end are one synced write of the first sector; nothing else reaches the journal file.
    expect(journalFileWrites(report.trace)).toEqual(['512@0', 'sync']);
    expect(report.statesChecked).toBeGreaterThan(3);
    expect(report.divergences).toEqual([]);
  }, 300_000);

  it('a begin longer than a sector (a long name) takes a new file: 0 divergences', async () => {
    // A disk writes a sector whole: a begin that crossed into the next sector, torn over the earlier lines,
    // would read as neither journal (the explorer found that state, a journal refused as corrupt).
    const report = await exploreCrashStates({ ...newFile(false), name: `core journal: a reused directory, a begin longer than a sector: ${'long name '.repeat(40)}` });
    expect(report.trace.filter((o) => o.op === 'rename' && o.fromName === '.reusable')).toEqual([]);
    expect(report.statesChecked).toBeGreaterThan(10);
    expect(report.divergences).toEqual([]);
  }, 300_000);

  for (const rollback of [false, true]) {
    it(`a first step whose records one sector holds, ${rollback ? 'rolled back' : 'committed'}: one synced write of that sector replaces the earlier begin: 0 divergences`, async () => {
      const run = newFile(rollback);
      const report = await exploreCrashStates({
        ...run,
        name: `reused, short first${rollback ? ', rollback' : ''}`,
        // The first step's records are short; the second's (a path, twice) follow the first sync.
        steps: (tree) => [{ type: 'test.noop', args: {} }, ...run.steps(tree)],
      });
      const writes = journalFileWrites(report.trace);
      // The earlier journal's first sector is never zeroed alone: the next write covers the rest of its block.
      expect(writes.slice(0, 2)).toEqual(['512@0', 'sync']);
      const [length, offset] = writes[2]!.split('@').map(Number);
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThan(512);
      expect(length! + offset!).toBe(4096);
      expect(report.statesChecked).toBeGreaterThan(10);
      expect(report.divergences).toEqual([]);
    }, 300_000);
  }

  for (const rollback of [false, true]) {
    it(`a first step whose records one sector holds, then records that start past the second sector, ${rollback ? 'rolled back' : 'committed'}: the earlier lines there are zeroed and synced before they are covered: 0 divergences`, async () => {
      const run = newFile(rollback);
      const report = await exploreCrashStates({
        ...run,
        name: `reused, short first, long second${rollback ? ', rollback' : ''}`,
        // The first step's done record (a long result) reaches past byte 1024, so its verified record and the
        // second step's prepared start there: a torn covering write could keep them after a lost sector
        // that still holds the earlier journal's lines.
        steps: (tree) => [{ type: 'test.paddedResult', args: { size: 700 } }, ...run.steps(tree)],
      });
      const writes = journalFileWrites(report.trace);
      expect(writes.slice(0, 2)).toEqual(['512@0', 'sync']);
      // The rest of the earlier block zeroed alone and synced, then the records written over zeros.
      expect(writes.slice(2, 4)).toEqual([`zeros ${4096 - 512}@512`, 'sync']);
      expect(report.statesChecked).toBeGreaterThan(10);
      expect(report.divergences).toEqual([]);
    }, 300_000);
  }

  it('committed with blobs in the reused directory (so it is removed, not handed on): 0 divergences', async () => {
    const run = journalRun(false, 'remove');
    const report = await exploreCrashStates({ ...run, name: `${run.name}, in a reused directory`, setup: (tree) => { sandboxTree(tree); reusableDirectory(tree); } });
    expect(report.trace.filter((o) => o.op === 'rename').length).toBeGreaterThanOrEqual(1);
    expect(report.statesChecked).toBeGreaterThan(20);
    expect(report.divergences).toEqual([]);
  }, 300_000);
});

describe('power loss: the core journal under the crash-state explorer', () => {
  for (const [rollback, retention] of [[false, 'remove'], [true, undefined]] as const) {
    it(`${rollback ? 'a rolled-back' : 'a committed'} transaction${retention ? ' whose journal is then removed' : ''}: 0 divergences`, async () => {
      const report = await exploreCrashStates(journalRun(rollback, retention));
      expect(report.statesChecked).toBeGreaterThan(20);
      expect(report.divergences).toEqual([]);
    }, 300_000);
  }

  it('a power cut during recover() itself (rolling back, rolling forward), then recover() again — and a second cut during that recover(): 0 divergences', async () => {
    const { rollback: _rollback, ...run } = journalRun(false, undefined);
    const reports = await exploreRecoveryCrashStates({ ...run, secondCuts: 4 });
    const second = ', then a second power cut during the next recover()';
    expect(reports.map((r) => r.name)).toEqual(['rolling back', `rolling back${second}`, 'rolling forward', `rolling forward${second}`].map((what) => `${run.name}: a power cut during recover() ${what}`));
    for (const report of reports) {
      expect(report.syncs).toBeGreaterThan(0);
      expect(report.statesChecked).toBeGreaterThan(10);
      expect(report.divergences).toEqual([]);
    }
  }, 300_000);

  it('detects a directory sync removed on purpose (the explorer can fail)', async () => {
    const broken = (syncDirectory: boolean): CrashExplorationOptions => ({
      name: `a kind ${syncDirectory ? 'with' : 'without'} its directory sync`,
      kindsModule: join(import.meta.dirname, 'fixtures', 'unsynced-rename-kind.ts'),
      setup: (tree) => fs.writeFileSync(join(tree, 'a.conf'), 'old\n'),
      steps: (tree) => [{ type: 'broken.unsyncedReplace', args: { path: join(tree, 'a.conf'), content: 'new\n', syncDirectory } }],
      seed,
    });
    const report = await exploreCrashStates(broken(false));
    expect(report.divergences.length).toBeGreaterThan(0);
    // Past the commit point, the rename the directory sync should have made durable is lost: a.conf is old again.
    const lostRename = report.divergences.find((d) => d.expected === 'after' && d.lost.some((op) => op.includes(' rename ')));
    expect(lostRename?.diff.some((line) => line.startsWith('~ tree/a.conf sha256'))).toBe(true);
    // The same kind with the sync put back passes: the divergence is the missing sync and nothing else.
    expect((await exploreCrashStates(broken(true))).divergences).toEqual([]);
  }, 300_000);
});
