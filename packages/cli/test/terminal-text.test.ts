import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeLine, JOURNAL_FILE, JOURNAL_FORMAT } from '@unwind/core';
import { killedAt, newSandbox, requireBuilt, runCleanups, TEST_KINDS, unwind } from './helpers.js';
import { writeTransactionFile } from './apply-helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

/** A title change, a bell and a screen clear: what a planted journal would make a terminal do. */
const NAME = 'evil\u001b]0;owned\u0007\u001b[2J\u009b31m\u007fname';
const MESSAGE = 'boom\r\nfake line\u001b[1A\u0000';
// C0 (tab and newline included: one field, one line), DEL and C1.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('human output escapes control characters from journals and commands', () => {
  it('status, log and recover print a journal name and error messages escaped; --json keeps them exact', async () => {
    const k = await killedAt(undefined, { name: NAME, failAtEnd: true, failMessage: MESSAGE, failUndoOf: 0 });
    for (const args of [['status', '--all'], ['log', k.id], ['recover']]) {
      const r = await unwind([...args, ...(args[0] === 'recover' ? TEST_KINDS : []), '--root', k.root]);
      const out = r.stdout + r.stderr;
      expect(out, args[0]).not.toMatch(CONTROL);
      expect(out, args[0]).toContain('evil\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\x7fname');
      if (args[0] !== 'recover') expect(out, args[0]).toContain('boom\\r\\nfake line\\x1b[1A\\x00');
    }
    const json = await unwind(['log', k.id, '--root', k.root, '--json']);
    expect((JSON.parse(json.stdout) as { name: string }).name).toBe(NAME);
    // JSON escapes C0 itself; DEL and C1 (U+009B is CSI to a terminal) are written as \u escapes.
    expect(json.stdout).not.toMatch(CONTROL);
    expect(json.stdout).toContain('\\u009b31m\\u007fname');
  });
});

describe('a planted journal whose numbers are strings of terminal commands', () => {
  it('status and log print every field escaped, a pid, a step and a count as much as a name; a time that is not a number reads as unknown', async () => {
    const s = newSandbox();
    const id = '20261207T120000000Z-planted-abcdef';
    fs.mkdirSync(join(s.root, id), { recursive: true, mode: 0o700 });
    const evil = '\u001b]0;title\u0007\u001b[2J';
    const records = [
      { kind: 'begin', format: JOURNAL_FORMAT, id, name: 'planted', pid: evil, host: 'h', seq: 1, at: evil },
      { kind: 'prepared', step: evil, type: 'test.noop', package: '@unwind/core/testing', description: 'd', args: {}, before: null, seq: 2, at: 1 },
      { kind: 'done', step: evil, after: null, attempts: evil, seq: 3, at: 2 },
    ];
    fs.writeFileSync(join(s.root, id, JOURNAL_FILE), records.map((r) => encodeLine(r as never)).join(''), { mode: 0o600 });
    for (const args of [['status', '--all'], ['log', id]]) {
      const r = await unwind([...args, '--root', s.root]);
      const out = r.stdout + r.stderr;
      expect(out, args[0]).not.toMatch(CONTROL);
      expect(out, args[0]).toContain('\\x1b]0;title\\x07\\x1b[2J');
    }
  });
});

describe('unwind apply shows what the transaction and its commands said, escaped', () => {
  it("a step's error (what a command printed) in the progress display and the outcome", async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'evil.json', { name: NAME, steps: [{ kind: 'files.ensureDir', args: { path: `${s.dir}/d` } }, { kind: 'test.fail', args: { message: MESSAGE } }] });
    const r = await unwind(['apply', file, '--root', s.root, ...TEST_KINDS]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout + r.stderr).not.toMatch(CONTROL);
    expect(r.stdout + r.stderr).toContain('boom\\r\\nfake line\\x1b[1A\\x00');
  });
});

describe('the error line of every command', () => {
  it('shows control characters escaped (here from an argument; a journal step type reaches it the same way)', async () => {
    const s = newSandbox();
    const r = await unwind(['recover', '--root', s.base, '--kinds', './no\u001b[2Jsuch.mjs']);
    expect(r.code).toBe(4);
    expect(r.stderr).not.toMatch(CONTROL);
    expect(r.stderr).toContain('cannot load module ./no\\x1b[2Jsuch.mjs');
  });

  it('indents every further line of a message, so quoted text cannot start a line that reads as unwind\'s own', async () => {
    const s = newSandbox();
    const r = await unwind(['recover', '--root', s.base, '--kinds', './no\nunwind: recovered, nothing left to do\n.mjs']);
    expect(r.code).toBe(4);
    const lines = r.stderr.split('\n').filter((line) => line !== '');
    expect(lines[0]).toMatch(/^unwind: error: cannot load module \.\/no$/);
    expect(lines).toContain('  unwind: recovered, nothing left to do');
    expect(lines.slice(1).every((line) => line.startsWith('  '))).toBe(true);
  });
});
