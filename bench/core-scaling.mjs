// Per-step cost of one transaction of 10 to 100,000 steps: it must stay flat
// (no quadratic term in the journal, the events or the report). Memory
// journal with an event listener (so every event is built and delivered);
// and a file journal from 10 to 10,000 steps (syncs dominate there, at one
// per step). Small sizes run many transactions, so every size runs about the
// same number of steps; their per-step cost includes the transaction's own.
// Memory-journal sizes: the median of 3 rounds (one round varied by a third).
// Beside them, the same rounds measure what keeping memory itself costs on
// this machine: a bare loop that keeps per step what such a run keeps (the
// caller's step object, one report object, 16 journal slots in chunked
// arrays) and does nothing else. What its per-step cost grows by from 1,000
// to 100,000 steps is added to unwind's 1,000-step cost: the best ratio any
// runner keeping those could show here.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileJournal, memoryJournal, transaction } from '@unwind/core';
import { noopStep } from '@unwind/core/testing';
import { count, median, report, scratch, time } from './_util.mjs';

const MEMORY_SIZES = [10, 100, 1000, 10_000, 100_000];
const FILE_SIZES = [10, 100, 1000, 10_000];

async function run(journal, steps) {
  let events = 0;
  const tx = transaction('scaling', { journal, handleSignals: false, onEvent: () => events++ });
  for (let i = 0; i < steps; i++) tx.add(noopStep({}));
  const outcome = await tx.run();
  if (outcome.status !== 'committed' || outcome.steps.length !== steps || events < steps * 3) throw new Error(`bench transaction ended ${outcome.status}`);
}

/**
 * Keeps, for `steps` steps, what a memory-journal run keeps per step, and
 * does nothing else: the caller's step object, one report object and 16
 * slots in chunked arrays (the memory journal's values).
 */
function keepBare(steps) {
  const kind = { type: 'test.noop' };
  const entries = [];
  for (let i = 0; i < steps; i++) entries.push({ kind, args: {}, options: {} });
  const reports = [];
  const chunks = [new Array(256)];
  let chunk = chunks[0];
  let used = 0;
  for (let i = 0; i < steps; i++) {
    if (used + 16 > chunk.length) {
      chunk = new Array(Math.min(chunk.length * 2, 8192));
      chunks.push(chunk);
      used = 0;
    }
    for (let k = 0; k < 16; k++) chunk[used + k] = k === 6 ? entries[i].args : i;
    used += 16;
    reports.push({ index: i, type: kind.type, description: 'do nothing', status: 'verified', attempts: 1, durationMs: 0 });
  }
  if (reports.length !== steps || chunks.length === 0) throw new Error('bare loop kept the wrong count');
}

/** Per-step cost of each size: the median of `rounds` measurements, the sizes measured in turn in each round. */
async function perStep(runOne, sizes, total, rounds) {
  const samples = sizes.map(() => []);
  await runOne(1000); // warm up
  for (let round = 0; round < rounds; round++) {
    for (const [index, steps] of sizes.entries()) {
      const transactions = Math.max(1, Math.round(total / steps));
      globalThis.gc?.();
      const seconds = await time(async () => {
        for (let i = 0; i < transactions; i++) await runOne(steps);
      });
      samples[index].push((seconds / (transactions * steps)) * 1e6);
    }
  }
  return sizes.map((steps, index) => ({ steps, micros: median(samples[index]) }));
}

function show(figure, rows, goal, bare) {
  const reference = rows.find((r) => r.steps === 1000);
  const largest = rows.at(-1);
  const growth = largest.micros / reference.micros;
  console.log(`${figure}: ${rows.map((r) => `${count(r.steps)} steps ${r.micros.toFixed(1)} µs`).join('; ')}`);
  let floor = '';
  if (bare) {
    const added = bare.at(-1).micros - bare.find((r) => r.steps === 1000).micros;
    console.log(`the same retention done bare: ${bare.map((r) => `${count(r.steps)} steps ${r.micros.toFixed(2)} µs`).join('; ')}`);
    floor = `; the same retention done bare (per step, the caller's step object, a report, 16 journal slots; nothing else): ${bare.map((r) => `${count(r.steps)}: ${r.micros.toFixed(2)} µs`).join(', ')}, +${added.toFixed(2)} µs per step, so at best ${((reference.micros + added) / reference.micros).toFixed(2)}x here`;
  }
  report({
    figure,
    baseline: `1,000 steps: ${reference.micros.toFixed(1)} µs per step${floor}`,
    unwind: rows.map((r) => `${count(r.steps)}: ${r.micros.toFixed(1)} µs`).join(', '),
    ratio: `${growth.toFixed(2)}x per step at ${count(largest.steps)} steps against 1,000`,
    goal,
    met: growth <= 1.5,
  });
}

const memoryRows = await perStep((steps) => run(memoryJournal(), steps), MEMORY_SIZES, 100_000, 3);
const bareRows = await perStep(async (steps) => keepBare(steps), [1000, 100_000], 100_000, 3);
show('per-step cost, 10 to 100,000 steps in one transaction (memory journal, events on)', memoryRows, 'flat (<= 1.5x)', bareRows);
const dir = scratch('core-scaling');
try {
  let n = 0;
  show('per-step cost, 10 to 10,000 steps in one transaction (file journal)', await perStep((steps) => run(fileJournal({ root: join(dir, `j${n++ % 4}`), retention: 'remove' }), steps), FILE_SIZES, 10_000, 1), 'flat (<= 1.5x)');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
