import * as fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTypeScript, temporaryDirectory } from '@unwind/core/testing';
import { crashStateScript } from '../src/testing/crash-states/record.js';

// The kill counter (loaded into a crash child with --import) writes its report — one line per counted
// operation — into a directory of its own. When that directory lies inside a root it counts, its own
// report writes must not count: they once did, each write counting itself, and the child died with
// "Maximum call stack size exceeded".

const child = join(import.meta.dirname, 'fixtures', 'write-two-files.ts');

describe('the kill counter', () => {
  it('counts the child\'s operations under a root, not its own report written inside that root', async () => {
    const base = temporaryDirectory('unwind-kill-counter-');
    try {
      const report = join(base.path, 'report');
      const work = join(base.path, 'work');
      fs.mkdirSync(report);
      fs.mkdirSync(work);
      const outcome = await runTypeScript(child, [work], {
        imports: [pathToFileURL(crashStateScript('kill-preload')).href],
        env: { ...process.env, UNWIND_KILL_ROOTS: base.path, UNWIND_KILL_REPORT: report, UNWIND_KILL_TRACED: '' },
        killAfterMs: 60_000,
      });
      expect(outcome.stderr).not.toMatch(/Maximum call stack/);
      expect(outcome.code).toBe(0);
      const counted = fs.readFileSync(join(report, 'operations.jsonl'), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { label: string }).label);
      expect(counted).toEqual([`writeFileSync ${join(work, 'one')}`, `renameSync ${join(work, 'one')} -> ${join(work, 'two')}`]);
    } finally {
      base.remove();
    }
  }, 120_000);
});
