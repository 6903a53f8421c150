// @unwind/core on a file journal, against the physical limit of the same disk:
// - durable no-op steps per second against raw write+fdatasync appends of a
//   line of the same size (one sync per step is the limit);
// - a whole durable 1-step transaction (lock, journal, step, commit point,
//   end, journal removal) in raw-sync equivalents: its time over one raw
//   append's, and its syncs counted by strace.
// Rounds alternate baseline and unwind, since this disk's speed drifts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileJournal, transaction } from '@unwind/core';
import { noopStep } from '@unwind/core/testing';
import { count, measureStall, median, missing, report, scratch, time } from './_util.mjs';

const ROUNDS = 5;
const STEPS = 2000;
const SMALL = 200;

function rawAppends(path, appends, bytes) {
  const line = `${'x'.repeat(bytes - 1)}\n`;
  const fd = fs.openSync(path, 'a');
  try {
    for (let i = 0; i < appends; i++) {
      fs.writeSync(fd, line);
      fs.fdatasyncSync(fd);
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function durableSteps(root, steps) {
  const tx = transaction('bench', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
  for (let i = 0; i < steps; i++) tx.add(noopStep({}));
  const outcome = await tx.run();
  if (outcome.status !== 'committed') throw new Error(`bench transaction ended ${outcome.status}`);
}

async function oneStepTransactions(root, transactions) {
  for (let i = 0; i < transactions; i++) {
    const tx = transaction('small', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
    tx.add(noopStep({}));
    const outcome = await tx.run();
    if (outcome.status !== 'committed') throw new Error(`bench transaction ended ${outcome.status}`);
  }
}

/** Syncs of one whole transaction, from strace -c over a child running `transactions` of them. */
function syncsPerTransaction(root, transactions) {
  const child = join(import.meta.dirname, '_one-transaction.mjs');
  const summary = join(root, '..', 'strace.txt');
  const r = spawnSync('strace', ['-f', '-c', '-o', summary, '-e', 'trace=fsync,fdatasync,sync_file_range,syncfs,sync', process.execPath, child, root, String(transactions)], { encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') return undefined;
  if (r.status !== 0) throw new Error(`strace run failed: ${r.stderr}`);
  const calls = {};
  for (const line of fs.readFileSync(summary, 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m && m[2] !== 'total') calls[m[2]] = Number(m[1]) / transactions;
  }
  return calls;
}

const dir = scratch('core-durable');
try {
  // One prepared record of a no-op step is about this long; the raw baseline appends lines of the same size.
  const lineBytes = 170;
  const ratios = [];
  const rawRates = [];
  const unwindRates = [];
  const smallEquivalents = [];
  for (let round = 0; round < ROUNDS; round++) {
    const rawSeconds = await time(() => rawAppends(join(dir, `raw-${round}.log`), STEPS, lineBytes));
    const root = join(dir, `journal-${round}`);
    const stepsSeconds = await time(() => (round === ROUNDS - 1 ? measureStall(`durable transaction of ${count(STEPS)} no-op steps`, () => durableSteps(root, STEPS)) : durableSteps(root, STEPS)));
    const smallSeconds = await time(() => oneStepTransactions(root, SMALL));
    const rawAfter = await time(() => rawAppends(join(dir, `raw-after-${round}.log`), STEPS, lineBytes));
    const rawRate = (2 * STEPS) / (rawSeconds + rawAfter);
    rawRates.push(rawRate);
    unwindRates.push(STEPS / stepsSeconds);
    ratios.push(STEPS / stepsSeconds / rawRate);
    smallEquivalents.push((smallSeconds / SMALL) * rawRate);
    console.log(`round ${round + 1}: raw ${count(rawRate)} appends/s, unwind ${count(STEPS / stepsSeconds)} steps/s (${(STEPS / stepsSeconds / rawRate).toFixed(2)}x); 1-step transaction ${((smallSeconds / SMALL) * 1000).toFixed(2)} ms = ${((smallSeconds / SMALL) * rawRate).toFixed(1)} raw syncs`);
  }
  const ratio = median(ratios);
  report({
    figure: 'durable no-op steps vs raw write+fdatasync appends',
    baseline: `${count(median(rawRates))} appends/s (${lineBytes}-byte lines)`,
    unwind: `${count(median(unwindRates))} steps/s (${count(STEPS)}-step transaction)`,
    ratio: `${ratio.toFixed(2)}x (median of ${ROUNDS} rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
    goal: '>= 0.9x',
    met: ratio >= 0.9,
  });

  const syncs = syncsPerTransaction(join(dir, 'strace-journal'), 20);
  const equivalents = median(smallEquivalents);
  const counted = syncs ? Object.values(syncs).reduce((a, b) => a + b, 0) : undefined;
  report({
    figure: 'one whole durable 1-step transaction, in raw-sync equivalents',
    baseline: `one raw write+fdatasync: ${(1000 / median(rawRates)).toFixed(2)} ms`,
    unwind: `${((equivalents / median(rawRates)) * 1000).toFixed(2)} ms; ${syncs ? `${counted} syncs counted by strace (${Object.entries(syncs).map(([k, v]) => `${v} ${k}`).join(', ')})` : 'syncs not counted (no strace)'}`,
    ratio: `${equivalents.toFixed(1)} raw-sync equivalents (time)${counted === undefined ? '' : `; ${counted} syncs`}`,
    goal: '<= 4',
    met: equivalents <= 4 && (counted === undefined || counted <= 4),
  });
  if (!syncs) missing('strace (the 1-step transaction\'s syncs are not counted)', 'apt-get install -y strace');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
