import { fileJournal, transaction } from '@unwind/core';
import { noopStep } from '@unwind/core/testing';
const root = process.argv[2]; const n = Number(process.argv[3]);
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  const tx = transaction('one step', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
  tx.add(noopStep({}));
  const outcome = await tx.run();
  if (outcome.status !== 'committed') throw new Error(`transaction ended ${outcome.status}`);
}
console.log(((performance.now()-t0)/n*1000).toFixed(1), 'µs per tx');
