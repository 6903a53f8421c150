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

describe('service-installer: a lock held by another live run', () => {
  // recover only ever touches what its journal names: with a fresh journal root nothing else can change.
  it('recover: exit 3 naming the holder, the journal untouched', async () => {
    const dir = temporaryDirectory('unwind-installer-lock-');
    cleanups.push(dir.remove);
    const journal = join(dir.path, 'journal');
    const holder = await holdLock(journal);
    cleanups.push(holder.release);
    const before = treeState(dir.path);
    expectLockHeld(await runTypeScript(main, ['recover', '--real', '--journal', journal], { cwd: repoRoot }), holder.pid);
    expect(treeState(dir.path)).toEqual(before);
  }, 60_000);
});
