// Another live run holds the journal's lock: the command line answers exit 3,
// names the holder, prints no stack trace, and changes nothing.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runTypeScript, temporaryDirectory, treeState } from '@unwind/core/testing';
import { expectLockHeld, holdLock } from '../../hold-lock.js';

const main = join(import.meta.dirname, '..', 'src', 'main.ts');
const repoRoot = join(import.meta.dirname, '..', '..', '..');
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

describe('collection-update: a lock held by another live run', () => {
  for (const command of ['update', 'recover']) {
    it(`${command}: exit 3 naming the holder, nothing changed`, async () => {
      const dir = temporaryDirectory('unwind-collection-lock-');
      cleanups.push(dir.remove);
      const sandbox = join(dir.path, 'sandbox');
      expect((await runTypeScript(main, ['init', '--sandbox', sandbox], { cwd: repoRoot })).code).toBe(0);
      const holder = await holdLock(join(sandbox, 'var', 'lib', 'unwind-collection'));
      cleanups.push(holder.release);
      const before = treeState(join(sandbox, 'collection'));
      expectLockHeld(await runTypeScript(main, [command, '--sandbox', sandbox], { cwd: repoRoot }), holder.pid);
      expect(treeState(join(sandbox, 'collection'))).toEqual(before);
    }, 60_000);
  }
});
