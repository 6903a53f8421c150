// Per-step cost of one transaction of 10 to 100,000 steps: it must stay flat
// (no quadratic term in the journal, the events or the report). Memory
// journal with an event listener (so every event is built and delivered);
// and a file journal from 10 to 10,000 steps (syncs dominate there, at one
// per step). Small sizes run many transactions, so every size runs about the
// same number of steps; their per-step cost includes the transaction's own.
// Memory-journal sizes: the median of 3 rounds (one round varied by a third).
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

/** Per-step cost of each size: the median of `rounds` measurements, the sizes measured in turn in each round. */
async function perStep(makeJournal, sizes, total, rounds) {
  const samples = sizes.map(() => []);
  await run(makeJournal(), 1000); // warm up
  for (let round = 0; round < rounds; round++) {
    for (const [index, steps] of sizes.entries()) {
      const transactions = Math.max(1, Math.round(total / steps));
      globalThis.gc?.();
      const seconds = await time(async () => {
        for (let i = 0; i < transactions; i++) await run(makeJournal(), steps);
      });
      samples[index].push((seconds / (transactions * steps)) * 1e6);
    }
  }
  return sizes.map((steps, index) => ({ steps, micros: median(samples[index]) }));
}

function show(figure, rows, goal) {
  const reference = rows.find((r) => r.steps === 1000);
  const largest = rows.at(-1);
  const growth = largest.micros / reference.micros;
  console.log(`${figure}: ${rows.map((r) => `${count(r.steps)} steps ${r.micros.toFixed(1)} µs`).join('; ')}`);
  report({
    figure,
    baseline: `1,000 steps: ${reference.micros.toFixed(1)} µs per step`,
    unwind: rows.map((r) => `${count(r.steps)}: ${r.micros.toFixed(1)} µs`).join(', '),
    ratio: `${growth.toFixed(2)}x per step at ${count(largest.steps)} steps against 1,000`,
    goal,
    met: growth <= 1.5,
  });
}

show('per-step cost, 10 to 100,000 steps in one transaction (memory journal, events on)', await perStep(() => memoryJournal(), MEMORY_SIZES, 100_000, 3), 'flat (<= 1.5x)');
const dir = scratch('core-scaling');
try {
  let n = 0;
  show('per-step cost, 10 to 10,000 steps in one transaction (file journal)', await perStep(() => fileJournal({ root: join(dir, `j${n++ % 4}`), retention: 'remove' }), FILE_SIZES, 10_000, 1), 'flat (<= 1.5x)');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
