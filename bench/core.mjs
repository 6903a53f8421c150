// @unwind/core: durable no-op steps per second against raw fdatasync appends
// per second on the same disk, and memory-journal steps per second.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileJournal, memoryJournal, transaction } from '@unwind/core';
import { noopStep } from '@unwind/core/testing';
import { rate, scratch, time } from './_util.mjs';

const dir = scratch('core');
try {
  // Baseline: one ~200-byte line appended and fdatasync'ed, as a journal record would be.
  const appends = 2000;
  const line = `${'x'.repeat(200)}\n`;
  const fd = fs.openSync(join(dir, 'raw.log'), 'a');
  const rawSeconds = await time(() => {
    for (let i = 0; i < appends; i++) {
      fs.writeSync(fd, line);
      fs.fdatasyncSync(fd);
    }
  });
  fs.closeSync(fd);
  const rawRate = appends / rawSeconds;

  // Durable: one transaction of many no-op steps on a file journal in the same directory.
  const steps = 2000;
  const durableSeconds = await time(async () => {
    const tx = transaction('bench', { journal: fileJournal({ root: join(dir, 'journal'), retention: 'remove' }), handleSignals: false });
    for (let i = 0; i < steps; i++) tx.add(noopStep({}));
    const outcome = await tx.run();
    if (outcome.status !== 'committed') throw new Error(`bench transaction ended ${outcome.status}`);
  });
  const durableRate = steps / durableSeconds;

  // Whole small transactions (begin, lock, 1 step, commit point, end, journal removal).
  const small = 200;
  const smallSeconds = await time(async () => {
    for (let i = 0; i < small; i++) {
      const tx = transaction('small', { journal: fileJournal({ root: join(dir, 'journal'), retention: 'remove' }), handleSignals: false });
      tx.add(noopStep({}));
      await tx.run();
    }
  });

  // Memory journal: the runner's own cost.
  const memorySteps = 200_000;
  const memorySeconds = await time(async () => {
    const tx = transaction('bench', { journal: memoryJournal(), handleSignals: false });
    for (let i = 0; i < memorySteps; i++) tx.add(noopStep({}));
    await tx.run();
  });

  console.log(`raw fdatasync appends:        ${rate(appends, rawSeconds)}/s`);
  console.log(`durable no-op steps:          ${rate(steps, durableSeconds)}/s   ratio to raw: ${(durableRate / rawRate).toFixed(2)}× (target ≥ 0.50×: at most two syncs per step)`);
  console.log(`durable 1-step transactions:  ${rate(small, smallSeconds)}/s   (${((smallSeconds / small) * rawRate).toFixed(1)} raw-sync equivalents each: lock, begin, step, commit point, end, cleanup)`);
  console.log(`memory-journal no-op steps:   ${rate(memorySteps, memorySeconds)}/s   (target ≥ 100,000/s)`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
