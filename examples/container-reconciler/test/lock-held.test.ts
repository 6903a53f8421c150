// Another live run holds the journal's lock: the command line answers exit 3,
// names the holder, prints no stack trace, and changes nothing.
import * as fs from 'node:fs';
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

describe('container-reconciler: a lock held by another live run', () => {
  it('a reconcile: exit 3 naming the holder, nothing changed', async () => {
    const dir = temporaryDirectory('unwind-reconciler-lock-');
    cleanups.push(dir.remove);
    const desired = join(dir.path, 'desired');
    fs.mkdirSync(desired);
    fs.writeFileSync(join(desired, 'web.service'), '[Service]\nExecStart=/bin/sleep infinity\n');
    const state = join(dir.path, 'state');
    const holder = await holdLock(join(state, 'journal'));
    cleanups.push(holder.release);
    const before = treeState(dir.path);
    expectLockHeld(await runTypeScript(main, ['--desired', desired, '--state', state, '--prefix', join(dir.path, 'prefix')], { cwd: repoRoot }), holder.pid);
    expect(treeState(dir.path)).toEqual(before);
  }, 60_000);

  it('a run that fetches its desired state: exit 3 naming the holder, nothing fetched', async () => {
    const dir = temporaryDirectory('unwind-reconciler-lock-git-');
    cleanups.push(dir.remove);
    const state = join(dir.path, 'state');
    const holder = await holdLock(join(state, 'journal'));
    cleanups.push(holder.release);
    const before = treeState(dir.path);
    expectLockHeld(await runTypeScript(main, ['--repository', join(dir.path, 'desired.git'), '--state', state, '--prefix', join(dir.path, 'prefix')], { cwd: repoRoot }), holder.pid);
    expect(treeState(dir.path)).toEqual(before);
  }, 60_000);
});
