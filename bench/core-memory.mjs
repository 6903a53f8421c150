// @unwind/core's own cost: no-op steps on a memory journal (no disk) against
// node-sagas 0.0.6, a saga runner with no journal and no codecs, running the
// same number of no-op steps with no-op compensations, in the same run.
// Both sides build their transaction and run it inside the timed section.
import { memoryJournal, transaction } from '@unwind/core';
import { noopStep } from '@unwind/core/testing';
import { SagaBuilder } from 'node-sagas';
import { count, measureStall, median, report, time } from './_util.mjs';

const STEPS = 200_000;
const ROUNDS = 3;

async function unwindRun(steps) {
  const tx = transaction('bench', { journal: memoryJournal(), handleSignals: false });
  for (let i = 0; i < steps; i++) tx.add(noopStep({}));
  const outcome = await tx.run();
  if (outcome.status !== 'committed') throw new Error(`bench transaction ended ${outcome.status}`);
}

async function sagaRun(steps) {
  const builder = new SagaBuilder();
  for (let i = 0; i < steps; i++) builder.step(`step ${i}`).invoke(async () => {}).withCompensation(async () => {});
  await builder.build().execute({});
}

// Warm both up (JIT) before measuring.
await unwindRun(10_000);
await sagaRun(10_000);
const ratios = [];
const unwindRates = [];
const sagaRates = [];
for (let round = 0; round < ROUNDS; round++) {
  globalThis.gc?.();
  const sagaSeconds = await time(() => sagaRun(STEPS));
  globalThis.gc?.();
  const unwindSeconds = await time(() => (round === ROUNDS - 1 ? measureStall(`memory-journal transaction of ${count(STEPS)} no-op steps`, () => unwindRun(STEPS)) : unwindRun(STEPS)));
  sagaRates.push(STEPS / sagaSeconds);
  unwindRates.push(STEPS / unwindSeconds);
  ratios.push(sagaSeconds / unwindSeconds);
  console.log(`round ${round + 1}: node-sagas ${count(STEPS / sagaSeconds)} steps/s, unwind ${count(STEPS / unwindSeconds)} steps/s (${(sagaSeconds / unwindSeconds).toFixed(2)}x)`);
}
const ratio = median(ratios);
const unwindRate = median(unwindRates);
report({
  figure: 'memory-journal no-op steps vs node-sagas 0.0.6',
  baseline: `node-sagas: ${count(median(sagaRates))} steps/s`,
  unwind: `${count(unwindRate)} steps/s (${count(STEPS)}-step transaction)`,
  ratio: `${ratio.toFixed(2)}x (median of ${ROUNDS} rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
  goal: '>= 0.25x and >= 200,000 steps/s',
  met: ratio >= 0.25 && unwindRate >= 200_000,
});
