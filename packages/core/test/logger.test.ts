// An embedding program routes unwind's messages to its own logger: the
// `logger` option of transaction() and recover() receives the transaction's
// messages and is every step's ctx.log.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as t from 'io-ts';
import { defineStep, fileJournal, recover, transaction, type Logger } from '@unwind/core';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A logger that keeps every call. */
function collecting(): { log: Logger; lines: Array<[string, unknown[]]> } {
  const lines: Array<[string, unknown[]]> = [];
  return { lines, log: (format, ...values) => lines.push([format, values]) };
}

const says = defineStep({
  type: 'test.says',
  args: t.type({ word: t.string, flag: t.string }),
  before: t.null,
  describe: (a) => `say ${a.word}`,
  prepare: async () => null,
  do: async (a, _before, ctx) => {
    ctx.log('step says %s', a.word);
  },
  undo: async () => {},
  // The commit action fails until the flag file exists, so recover() has work left.
  commit: async (a, _before, _after, ctx) => {
    if (!fs.existsSync(a.flag)) throw new Error('not yet');
    ctx.log('commit says %s', a.word);
  },
});

describe('the logger option', () => {
  it('transaction(): steps log through it and it hears the events', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const flag = join(dir.path, 'flag');
    fs.writeFileSync(flag, '');
    const { log, lines } = collecting();
    const tx = transaction('logged', { journal: fileJournal({ root: join(dir.path, 'journal') }), handleSignals: false, logger: log });
    tx.add(says({ word: 'hello', flag }));
    expect((await tx.run()).status).toBe('committed');
    expect(lines).toContainEqual(['step says %s', ['hello']]);
    expect(lines).toContainEqual(['commit says %s', ['hello']]);
    expect(lines.some(([format, values]) => format === '%s %o' && values[0] === 'transaction:begin')).toBe(true);
  });

  it("recover(): a step's commit action logs through it, and so does recovery", async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const root = join(dir.path, 'journal');
    const flag = join(dir.path, 'flag');
    const tx = transaction('commit pending', { journal: fileJournal({ root }), handleSignals: false, retry: { commit: { retries: 0 } } });
    tx.add(says({ word: 'later', flag }));
    const outcome = await tx.run();
    expect(outcome.status === 'committed' && outcome.pendingCommits).toEqual([0]);
    fs.writeFileSync(flag, '');
    const { log, lines } = collecting();
    const report = await recover({ root, kinds: [says], logger: log });
    expect(report.transactions.map((r) => r.result)).toEqual(['committed']);
    expect(lines).toContainEqual(['commit says %s', ['later']]);
    expect(lines.some(([format]) => format.startsWith('recovering %s'))).toBe(true);
  });
});
