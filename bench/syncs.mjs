// Syncs per transaction and per step: every fsync/fdatasync a run makes under
// its sandbox, counted from the crash-state recorder's trace (the same trace
// the power-loss tests explore). A count, not a timing: the same on any disk.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kindsChild, recordOperations } from '@unwind/core/testing';
import { scratch } from './_util.mjs';

const filesModule = fileURLToPath(import.meta.resolve('@unwind/files'));
const coreTesting = fileURLToPath(import.meta.resolve('@unwind/core/testing'));
const snapshotsModule = fileURLToPath(import.meta.resolve('@unwind/snapshots'));

function setup(tree) {
  fs.mkdirSync(join(tree, 'etc'));
  fs.writeFileSync(join(tree, 'etc', 'a.conf'), 'old a\n');
  fs.writeFileSync(join(tree, 'source.bin'), Buffer.alloc(5000, 7));
  fs.mkdirSync(join(tree, 'data', 'nested'), { recursive: true });
  fs.writeFileSync(join(tree, 'data', 'one'), 'one\n');
  fs.mkdirSync(join(tree, 'store'));
}

const scenarios = [
  { name: 'empty transaction', module: coreTesting, exportName: 'testKinds', steps: () => [] },
  { name: '10 test.noop', module: coreTesting, exportName: 'testKinds', steps: () => Array.from({ length: 10 }, () => ({ type: 'test.noop', args: {} })), count: 10 },
  { name: 'files.writeFile', steps: (t) => [{ type: 'files.writeFile', args: { path: join(t, 'etc', 'a.conf'), content: 'new\n' } }] },
  { name: 'files.copy', steps: (t) => [{ type: 'files.copy', args: { source: join(t, 'source.bin'), path: join(t, 'etc', 'b.bin') } }] },
  { name: 'files.ensureDir', steps: (t) => [{ type: 'files.ensureDir', args: { path: join(t, 'var', 'lib', 'app'), mode: 0o750 } }] },
  { name: 'files.chmod', steps: (t) => [{ type: 'files.chmod', args: { path: join(t, 'etc', 'a.conf'), mode: 0o600 } }] },
  { name: 'files.chown', steps: (t) => [{ type: 'files.chown', args: { path: join(t, 'etc', 'a.conf'), uid: 4321, gid: 4321 } }] },
  { name: 'files.symlink', steps: (t) => [{ type: 'files.symlink', args: { path: join(t, 'etc', 'link'), target: 'a.conf' } }] },
  { name: 'files.remove', steps: (t) => [{ type: 'files.remove', args: { paths: [join(t, 'data')] } }] },
  { name: 'files.move', steps: (t) => [{ type: 'files.move', args: { from: join(t, 'etc', 'a.conf'), to: join(t, 'etc', 'moved.conf') } }] },
  { name: 'snapshots.snapshot (journal)', module: snapshotsModule, steps: (t) => [{ type: 'snapshots.snapshot', args: { path: join(t, 'data') } }] },
  { name: 'snapshots.snapshot (store)', module: snapshotsModule, steps: (t) => [{ type: 'snapshots.snapshot', args: { path: join(t, 'data'), store: join(t, 'store'), keepLast: 1 } }] },
];

const base = scratch('syncs');
fs.mkdirSync(join(base, 'nowhere'));
let empty;
try {
  console.log('scenario                      committed: syncs (fsync+fdatasync) | rolled back: syncs | per step beyond an empty transaction (committed / rolled back) | committed as the next transaction in its root');
  for (const s of scenarios) {
    const counts = [];
    // A new root first (made, its first journal directory made), then a root an earlier
    // transaction already used: its finished directory is reused (the steady state).
    for (const [rollback, earlier] of [[false, false], [true, false], [false, true]]) {
      const sandbox = fs.mkdtempSync(join(base, 'run-'));
      const tree = join(sandbox, 'tree');
      fs.mkdirSync(tree);
      setup(tree);
      const journalRoot = join(sandbox, 'journal');
      if (earlier) {
        // Recorded nowhere: the recorder watches only the directory it is given.
        const config = { name: 'earlier', journalRoot, kindsModule: coreTesting, kindsExport: 'testKinds', steps: [{ type: 'test.noop', args: {} }], rollback: false, retention: 'remove' };
        const { child } = await recordOperations(kindsChild('run-steps', coreTesting), [JSON.stringify(config)], { root: join(base, 'nowhere'), tracePath: join(base, 'trace-earlier.jsonl') });
        if (!child.stdout.includes('"status":"committed"') || !fs.existsSync(join(journalRoot, '.reusable'))) throw new Error(`the earlier transaction left no reusable directory: ${child.stdout || child.stderr}`);
      }
      const config = { name: s.name, journalRoot, kindsModule: s.module ?? filesModule, kindsExport: s.exportName ?? 'kinds', steps: s.steps(tree), rollback, retention: 'remove' };
      const { trace, child } = await recordOperations(kindsChild('run-steps', config.kindsModule), [JSON.stringify(config)], { root: sandbox, tracePath: join(base, `trace-${counts.length}.jsonl`) });
      const expected = rollback ? 'rolled-back' : 'committed';
      if (!child.stdout.includes(`"status":"${expected}"`)) throw new Error(`${s.name}: the recorded run did not end ${expected}: ${child.stdout || child.stderr}`);
      const syncs = trace.operations.filter((o) => o.op === 'fsync');
      // A file journal syncs at least its commit point or its end: no syncs means nothing was recorded.
      if (syncs.length === 0) throw new Error(`${s.name}: the recorder saw no sync, so it did not watch the run`);
      counts.push({ total: syncs.length, fsync: syncs.filter((o) => !o.data).length, fdatasync: syncs.filter((o) => o.data).length });
    }
    empty ??= counts;
    const perStep = [0, 1].map((i) => ((counts[i].total - empty[i].total) / (s.count ?? 1)).toFixed(1));
    const show = (c) => `${c.total} (${c.fsync}+${c.fdatasync})`;
    console.log(`${s.name.padEnd(30)}${show(counts[0]).padStart(12)} | ${show(counts[1]).padStart(12)} | ${perStep[0]} / ${perStep[1]} | ${show(counts[2])}`);
  }
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
