// @unwind/snapshots: snapshot plus restore of a 20,000-file tree, against
// `cp -a` there and back (two cp -a runs) of the same tree, in the same run,
// on the same disk. Two restores are measured: after 1% of the files were
// changed (the usual rollback: only those are rewritten, everything is
// verified), and after the whole tree was deleted (every file rewritten).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { create, diff, restore } from '@unwind/snapshots';
import { count, measureStall, median, report, scratch, time } from './_util.mjs';

const FILES = 20_000;
const PER_DIR = 100;
const dir = scratch('snapshots');

function cpA(from, to) {
  const r = spawnSync('cp', ['-a', from, to], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cp -a failed: ${r.stderr}`);
}

/** Flushes everything dirty, untimed, so no measured section pays for another's writeback. */
function settle() {
  spawnSync('sync', ['-f', dir]);
}

try {
  const tree = join(dir, 'tree');
  for (let i = 0; i < FILES; i++) {
    const sub = join(tree, `d${String(Math.floor(i / PER_DIR)).padStart(3, '0')}`);
    if (i % PER_DIR === 0) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(join(sub, `f${i}.txt`), randomBytes(512 + (i % 8) * 512));
  }
  // This disk's speed drifts by 2-4x within minutes (writeback, the host), so each round
  // measures the baseline right beside unwind and the ratio is taken per round.
  const rounds = 2;
  const ratios = { changed: [], deleted: [], changedDurable: [], deletedDurable: [] };
  for (let round = 0; round < rounds; round++) {
    // Baseline: cp -a there and back; then, apart, the sync that would make it durable.
    const there = join(dir, `cp-there-${round}`);
    const back = join(dir, `cp-back-${round}`);
    settle();
    const cp = await time(() => { cpA(tree, there); cpA(there, back); });
    const cpSync = await time(settle);
    fs.rmSync(there, { recursive: true });
    fs.rmSync(back, { recursive: true });

    const store = join(dir, `store-${round}`);
    let id;
    settle();
    const last = round === rounds - 1;
    const snapSeconds = await time(async () => { id = (await (last ? measureStall(`snapshot of ${count(FILES)} files`, () => create({ source: tree, store })) : create({ source: tree, store }))).id; });
    // 1% of files changed, a few added and removed: the usual rollback.
    for (let i = 0; i < FILES; i += 100) fs.writeFileSync(join(tree, `d${String(Math.floor(i / PER_DIR)).padStart(3, '0')}`, `f${i}.txt`), 'changed');
    fs.writeFileSync(join(tree, 'd000', 'extra'), 'extra');
    settle();
    const restoreSeconds = await time(() => restore({ store, id }));
    // Worst case: the tree is gone, every file comes back.
    fs.rmSync(tree, { recursive: true });
    settle();
    const fullSeconds = await time(() => (last ? measureStall(`verified restore of ${count(FILES)} files (tree deleted)`, () => restore({ store, id })) : restore({ store, id })));
    if ((await diff({ store, id })).length !== 0) throw new Error('restored tree differs from the snapshot');
    const changed = snapSeconds + restoreSeconds;
    const deleted = snapSeconds + fullSeconds;
    ratios.changed.push(changed / cp);
    ratios.deleted.push(deleted / cp);
    ratios.changedDurable.push(changed / (cp + cpSync));
    ratios.deletedDurable.push(deleted / (cp + cpSync));
    console.log(`round ${round + 1}: cp -a x2 ${cp.toFixed(2)} s (+ sync ${cpSync.toFixed(2)} s); snapshot ${snapSeconds.toFixed(2)} s + restore (1% changed) ${restoreSeconds.toFixed(2)} s = ${(changed / cp).toFixed(2)}x; restore (tree deleted) ${fullSeconds.toFixed(2)} s = ${(deleted / cp).toFixed(2)}x`);
    fs.rmSync(store, { recursive: true });
  }
  const show = (values) => `${median(values).toFixed(2)}x (rounds: ${values.map((v) => v.toFixed(2)).join(', ')})`;
  report({
    figure: `snapshot + verified restore, ${count(FILES)} files, 1% changed`,
    baseline: 'cp -a there and back, same round',
    unwind: `median of ${rounds} rounds`,
    ratio: show(ratios.changed),
    goal: '<= 1.0x',
    met: median(ratios.changed) <= 1,
  });
  report({
    figure: `snapshot + verified restore, ${count(FILES)} files, whole tree deleted`,
    baseline: 'cp -a there and back, same round',
    unwind: `median of ${rounds} rounds; against cp -a + sync -f: ${show(ratios.deletedDurable)}`,
    ratio: show(ratios.deleted),
    goal: '<= 1.0x',
    met: median(ratios.deleted) <= 1,
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
