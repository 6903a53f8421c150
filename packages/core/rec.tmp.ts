import * as t from 'io-ts';
import { defineStep, memoryJournal, transaction } from '@unwind/core';
import { failingStep, writeMarker, stagedRemove } from '@unwind/core/testing';
import * as fs from 'node:fs';
const dir = fs.mkdtempSync('/tmp/rec-');
let n = 0;
const flaky = defineStep({ type: 'demo.flaky', args: t.type({ name: t.string }), before: t.null, describe: (a) => `start ${a.name}`, prepare: async () => null, do: async () => { if (n++ === 0) throw new Error('connection refused'); }, undo: async () => {} });
for (const fail of [true, false]) {
  const events: unknown[] = [];
  const tx = transaction('install app', { journal: memoryJournal(), onEvent: (e) => events.push(e), retry: { do: { retries: 2, minTimeout: 1 } } });
  tx.add(writeMarker({ path: `${dir}/app.conf`, content: 'port = 80\n' }));
  tx.add(stagedRemove({ path: `${dir}/old.log` }));
  tx.add(flaky({ name: 'app.service' }));
  if (fail) tx.add(failingStep({ message: 'port 80 is already in use' }));
  await tx.run();
  console.log(JSON.stringify(events));
}
