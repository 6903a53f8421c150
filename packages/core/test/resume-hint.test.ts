import * as fs from 'node:fs';
import * as t from 'io-ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineStep, fileJournal, transaction } from '@unwind/core';
import { failingStep, writeMarker } from '@unwind/core/testing';

// A kind of the user's own package: `unwind recover` cannot load it by itself.
const remember = defineStep({
  type: 'myapp.remember',
  package: 'myapp',
  describe: () => 'remember',
  args: t.type({}),
  before: t.null,
  prepare: async () => null,
  do: async () => {},
  verify: async () => {},
  undo: async () => {},
});

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

async function stuckRollback(withOwnKind: boolean) {
  const directory = fs.mkdtempSync(join(tmpdir(), 'unwind-resume-'));
  directories.push(directory);
  const root = join(directory, 'journal');
  const tx = transaction('stuck', { journal: fileJournal({ root }), handleSignals: false, retry: { undo: { retries: 0, minTimeout: 1 } } });
  if (withOwnKind) tx.add(remember({}));
  tx.add(writeMarker({ path: join(directory, 'marker'), content: 'A', failIn: 'undo' }));
  tx.add(failingStep({ message: 'boom' }));
  return { root, outcome: await tx.run() };
}

describe('the resume hint of a rollback that could not finish', () => {
  it('names --kinds when the transaction used kinds from outside @unwind/*', async () => {
    const { root, outcome } = await stuckRollback(true);
    if (outcome.status !== 'rollback-failed') throw new Error(`expected rollback-failed, got ${outcome.status}`);
    expect(outcome.resume).toBe(`unwind recover --root ${root} ${outcome.transactionId} --kinds <module exporting the step kinds of myapp>`);
  });

  it('does not when every kind comes with unwind', async () => {
    const { root, outcome } = await stuckRollback(false);
    if (outcome.status !== 'rollback-failed') throw new Error(`expected rollback-failed, got ${outcome.status}`);
    expect(outcome.resume).toBe(`unwind recover --root ${root} ${outcome.transactionId}`);
  });
});
