import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { runChild } from './helpers.js';

const main = join(import.meta.dirname, '..', 'src', 'main.ts');
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandboxRoot(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-collection-cli-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'sb');
}

describe('collection update: the command line', () => {
  it('init, plan, a refused update (no snapshot), a forced one, check: plain words and exit codes', async () => {
    const sb = sandboxRoot();
    expect((await runChild(main, ['init', '--sandbox', sb])).code).toBe(0);
    const collection = join(sb, 'collection');
    const before = treeState(collection);
    const plan = await runChild(main, ['plan', '--sandbox', sb]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Would update default: canvas-design::skill v1.0.0 -> v1.1.0, code-review::command v2.0.0 -> v2.1.0 (nothing was changed):');
    const notADir = join(sb, 'not-a-dir');
    fs.writeFileSync(notADir, '');
    const refused = await runChild(main, ['--sandbox', sb, '--snapshot-store', notADir]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('Update refused: the pre-update snapshot');
    expect(treeState(collection)).toEqual(before);
    const forced = await runChild(main, ['--sandbox', sb, '--snapshot-store', notADir, '--force-without-snapshot']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('!!! WARNING: updating WITHOUT A SNAPSHOT');
    expect(forced.stdout).toContain('Updated default: canvas-design::skill v1.0.0 -> v1.1.0');
    const check = await runChild(main, ['check', '--sandbox', sb]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('The lock matches every artifact');
  });

  it('a normal update with progress, then nothing to do; paths outside the sandbox are refused', async () => {
    const sb = sandboxRoot();
    await runChild(main, ['init', '--sandbox', sb]);
    const run = await runChild(main, ['--sandbox', sb]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('✔ committed: 9 steps');
    expect(run.stdout).toContain('Done: all 9 steps applied and verified.');
    const again = await runChild(main, ['update', '--sandbox', sb]);
    expect(again.stdout).toContain('Nothing to do: every artifact of default with an upstream is at the commit its upstream offers.');
    const outside = await runChild(main, ['--sandbox', sb, '--collection', join(tmpdir(), 'elsewhere')]);
    expect(outside.code).toBe(4);
    expect(outside.stderr).toContain('outside the sandbox');
  });

  it("a sandbox another user made (/tmp is anyone's) is refused before anything is written in it: her link is never followed", async () => {
    const sb = sandboxRoot();
    const target = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-collection-target-'));
    cleanups.push(() => fs.rmSync(target, { recursive: true, force: true }));
    fs.mkdirSync(sb, { mode: 0o755 });
    fs.symlinkSync(target, join(sb, 'collection'));
    fs.lchownSync(join(sb, 'collection'), 65534, 65534);
    fs.chownSync(sb, 65534, 65534);
    for (const command of ['init', 'update']) {
      const run = await runChild(main, [command, '--sandbox', sb]);
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain('owned by uid 65534');
    }
    expect(fs.readdirSync(target)).toEqual([]);
  });
});
