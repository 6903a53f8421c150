import * as fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { newSandbox, requireBuilt, runCleanups, unwind } from './helpers.js';
import { writeTransactionFile } from './apply-helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

/** Numbers a timer or the journal cannot hold: setTimeout fires at once past 2^31-1 ms, and JSON turns NaN and Infinity into null. */
const BAD_NUMBERS = `name: numbers
timeoutMs: 99999999999
retry: { do: { retries: 1000000, factor: .inf, minTimeout: .nan } }
steps:
  - kind: files.ensureDir
    timeoutMs: .inf
    retry: { undo: { retries: 1.5, maxTimeout: 2147483648, factor: 0 } }
    args: { path: /tmp/unwind-never/d, mode: .nan }
`;

describe('unwind apply: numbers are finite, integers where they count, and bounded', () => {
  it('every out-of-range or non-finite number is a problem with its place, exit 4, nothing touched', async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'numbers.yaml', BAD_NUMBERS);
    const before = treeState(s.base);
    const r = await unwind(['apply', file, '--root', s.root, '--json']);
    expect(r.code, r.stderr).toBe(4);
    const report = JSON.parse(r.stdout) as { problems: Array<{ pointer: string; message: string }> };
    expect(report.problems.map((p) => p.pointer).sort()).toEqual(
      [
        '/timeoutMs',
        '/retry/do/retries',
        '/retry/do/factor',
        '/retry/do/minTimeout',
        '/steps/0/timeoutMs',
        '/steps/0/retry/undo/retries',
        '/steps/0/retry/undo/maxTimeout',
        '/steps/0/retry/undo/factor',
        '/steps/0/args', // files.ensureDir's own validate refuses mode NaN too
        '/steps/0/args/mode',
      ].sort(),
    );
    const message = (pointer: string) => report.problems.find((p) => p.pointer === pointer)!.message;
    expect(message('/timeoutMs')).toBe('expected an integer from 1 to 2147483647 (ms), got 99999999999');
    expect(message('/steps/0/timeoutMs')).toContain('got Infinity');
    expect(message('/steps/0/args/mode')).toContain('got NaN');
    expect(treeState(s.base)).toEqual(before);
    expect(fs.existsSync(s.root)).toBe(false);
    expect(fs.existsSync('/tmp/unwind-never')).toBe(false);
  });

  it('the largest allowed timeout is accepted', async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'max.yaml', { name: 'max', timeoutMs: 2147483647, retry: { do: { retries: 100, factor: 10, minTimeout: 0, maxTimeout: 2147483647 } }, steps: [{ kind: 'files.ensureDir', args: { path: `${s.dir}/d` } }] });
    const r = await unwind(['apply', file, '--root', s.root, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
  });
});
