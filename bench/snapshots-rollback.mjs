// The cost of a snapshot step's compare-and-swap in a rollback: a
// transaction takes a snapshot of a 20,000-file tree, changes 1% of its
// files and fails; its rollback records what the transaction left
// (`beforeRollback`), checks what changed since, and restores. Baseline, in
// the same round: the same snapshot and restore called directly, with no
// record and no check. The ratio is the rollback's whole cost against that;
// the record alone is timed from the step's events.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { defineStep, memoryJournal, t, transaction } from '@unwind/core';
import { create, restore, snapshot } from '@unwind/snapshots';
import { count, median, report, scratch, time } from './_util.mjs';

const FILES = Number(process.env.UNWIND_BENCH_ROLLBACK_FILES ?? 20_000);
const PER_DIR = 100;
const dir = scratch('snapshots-rollback');
const tree = join(dir, 'tree');
const fileOf = (i) => join(tree, `d${String(Math.floor(i / PER_DIR)).padStart(3, '0')}`, `f${i}.txt`);

/** 1% of the files rewritten, one added: what the wrapped steps do. */
function change() {
  for (let i = 0; i < FILES; i += 100) fs.writeFileSync(fileOf(i), `changed ${i}`);
  fs.writeFileSync(join(tree, 'd000', 'extra'), 'extra');
}

const changeTree = defineStep({
  type: 'bench.changeTree',
  package: '@unwind/bench',
  args: t.type({}),
  before: t.null,
  describe: () => 'change 1% of the tree',
  prepare: async () => null,
  do: async () => change(),
  undo: async () => {},
});
const fail = defineStep({
  type: 'bench.fail',
  package: '@unwind/bench',
  args: t.type({}),
  before: t.null,
  describe: () => 'fail',
  prepare: async () => null,
  do: async () => {
    throw new Error('force the rollback');
  },
  undo: async () => {},
});

function settle() {
  spawnSync('sync', ['-f', dir]);
}

try {
  for (let i = 0; i < FILES; i++) {
    if (i % PER_DIR === 0) fs.mkdirSync(join(fileOf(i), '..'), { recursive: true });
    fs.writeFileSync(fileOf(i), randomBytes(512 + (i % 8) * 512));
  }
  const rounds = 2;
  const ratios = [];
  const records = [];
  for (let round = 0; round < rounds; round++) {
    // Baseline: snapshot, change, restore, called directly.
    const store = join(dir, `store-${round}`);
    settle();
    const direct = await time(async () => {
      const { id } = await create({ source: tree, store });
      change();
      await restore({ store, id });
    });
    fs.rmSync(store, { recursive: true });

    settle();
    let recordStart;
    let recordSeconds = 0;
    const tx = transaction('bench rollback', { journal: memoryJournal(), handleSignals: false });
    tx.on((e) => {
      // The rollback begins with every step's beforeRollback, the snapshot's the only costly one; the first undo follows it.
      if (e.type === 'rollback:start') recordStart = process.hrtime.bigint();
      if (e.type === 'undo:start' && recordStart !== undefined && recordSeconds === 0) recordSeconds = Number(process.hrtime.bigint() - recordStart) / 1e9;
    });
    tx.add(snapshot({ path: tree }));
    tx.add(changeTree({}));
    tx.add(fail({}));
    let status;
    const rolledBack = await time(async () => {
      status = (await tx.run()).status;
    });
    if (status !== 'rolled-back') throw new Error(`the transaction ended ${status}`);
    ratios.push(rolledBack / direct);
    records.push(recordSeconds);
    console.log(`round ${round + 1}: create + restore called directly ${direct.toFixed(2)} s; transaction rolled back ${rolledBack.toFixed(2)} s (${(rolledBack / direct).toFixed(2)}x), of which the record of what it left ${recordSeconds.toFixed(2)} s`);
  }
  report({
    figure: `a snapshot step's rollback with its compare-and-swap (record of what the transaction left, check, restore), ${count(FILES)} files, 1% changed`,
    baseline: 'create() + the change + restore() called directly, same round',
    unwind: `median of ${rounds} rounds; the record alone: ${median(records).toFixed(2)} s`,
    ratio: `${median(ratios).toFixed(2)}x (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
    goal: '– (measured: issue 15 asks what it costs)',
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
