// A child of core-durable.mjs, run under strace: N whole durable transactions
// of one no-op step each, on the journal root argv[2].
import { fileJournal, transaction } from '@unwind/core';
import { noopStep } from '@unwind/core/testing';

const root = process.argv[2];
const transactions = Number(process.argv[3] ?? 1);
for (let i = 0; i < transactions; i++) {
  const tx = transaction('one step', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false });
  tx.add(noopStep({}));
  const outcome = await tx.run();
  if (outcome.status !== 'committed') throw new Error(`transaction ended ${outcome.status}`);
}
