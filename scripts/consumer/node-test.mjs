// The framework-free test helpers from node:test, in a project with no vitest:
// scripts/consumer-test.mjs runs it with `node --test`. A step kind's author
// tests it here as they would with jest or vitest: a real context, a real
// transaction, the tree before and after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as fs from 'node:fs';
import { memoryJournal, transaction } from '@unwind/core';
import { failingStep, noopStep, temporaryDirectory, testContext, treeState, writeMarker } from '@unwind/core/testing/helpers';

test('a failed transaction leaves the tree as it was (node:test, no vitest)', async () => {
  const sandbox = temporaryDirectory('unwind-node-test-');
  try {
    fs.writeFileSync(join(sandbox.path, 'kept'), 'old\n');
    const before = treeState(sandbox.path);
    const tx = transaction('node:test', { journal: memoryJournal(), handleSignals: false });
    tx.add(writeMarker({ path: join(sandbox.path, 'marker'), content: 'x' }));
    tx.add(noopStep({}));
    tx.add(failingStep({ message: 'as planned' }));
    const outcome = await tx.run();
    assert.equal(outcome.status, 'rolled-back');
    assert.deepEqual(treeState(sandbox.path), before);
  } finally {
    sandbox.remove();
  }
});

test('testContext calls a kind directly', async () => {
  const { ctx, dispose } = testContext();
  try {
    const before = await writeMarker.definition.prepare({ path: '/nonexistent/unwind-node-test', content: 'x' }, ctx);
    assert.deepEqual(before, { existed: false });
    assert.equal(ctx.phase, 'run');
  } finally {
    dispose();
  }
});
