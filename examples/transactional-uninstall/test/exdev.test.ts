import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failingStep, requireHere, testKinds, treeState } from '@unwind/core/testing';
import { uninstall } from '../src/uninstall.js';
import { cannotMount, makeSandbox, mountTmpfs, runChild, type Sandbox } from './helpers.js';

const why = cannotMount();

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A sandbox plus a tmpfs (another filesystem) at `<base>/other` for the staging directory. */
function sandboxWithTmpfs(): Sandbox & { other: string } {
  const s = makeSandbox();
  cleanups.push(s.remove);
  const other = join(s.base, 'other');
  fs.mkdirSync(other);
  cleanups.push(mountTmpfs(other, '16m'));
  return { ...s, other };
}

describe('transactional uninstall: staging on another filesystem', () => {
  beforeAll(() => requireHere(why, 'mounting a tmpfs (another filesystem for the staging directory)'));
  it('is detected before anything moves and refused with a clear message', async () => {
    const s = sandboxWithTmpfs();
    const before = treeState(s.base);
    const result = await uninstall({ stateDir: s.stateDir, journalRoot: s.journalRoot, stagingDir: s.other, handleSignals: false });
    expect(result.status).toBe('refused');
    expect(result.exitCode).toBe(4);
    expect(result.outcome).toBeUndefined(); // no transaction started
    expect(result.message).toContain(`Nothing was moved: the staging directory ${s.other} is on another filesystem than the state directory.`);
    expect(result.message).toMatch(/is on device \d+, the staging directory .* on device \d+/);
    expect(result.message).toContain('--allow-copy');
    expect(treeState(s.base)).toEqual(before);
  });

  it('with --allow-copy: copies into staging, then deletes; the tmpfs holds nothing afterwards', async () => {
    const s = sandboxWithTmpfs();
    // An owner other than root, to see that copies keep owners.
    fs.chownSync(join(s.stateDir, 'memories', 'home', 'plants.md'), 1234, 1235);
    const result = await uninstall({ stateDir: s.stateDir, journalRoot: s.journalRoot, stagingDir: s.other, allowCopy: true, handleSignals: false });
    expect(result.status, result.message).toBe('committed');
    expect(fs.existsSync(s.stateDir)).toBe(false);
    expect(fs.readdirSync(s.other)).toEqual([]);
    expect(fs.readdirSync(join(s.home, 'user'))).toEqual([]);
  });

  it('with --allow-copy, a failure after each group copies everything back: paths, bytes, modes, owners, symlinks', async () => {
    for (const n of [1, 3, 8]) {
      const s = sandboxWithTmpfs();
      fs.chownSync(join(s.stateDir, 'memories', 'home', 'plants.md'), 1234, 1235);
      fs.lchownSync(join(s.stateDir, 'memories', 'latest'), 1234, 1235);
      const before = s.state();
      const result = await uninstall({
        stateDir: s.stateDir,
        journalRoot: s.journalRoot,
        stagingDir: s.other,
        allowCopy: true,
        handleSignals: false,
        inject: [{ afterStep: n + 1, step: failingStep({ message: `after ${n}` }) }],
        extraKinds: testKinds,
      });
      expect(result.status, result.message).toBe('rolled-back');
      expect(s.state(), `failure after ${n} copied groups`).toEqual(before);
      expect(fs.readdirSync(s.other)).toEqual([]);
      expect(result.message).toContain('is exactly as before');
    }
  });

  it('the command line refuses too, with exit code 4 and the reason', async () => {
    const s = sandboxWithTmpfs();
    const before = treeState(s.base);
    const main = join(import.meta.dirname, '..', 'src', 'main.ts');
    const r = await runChild(main, ['uninstall', '--sandbox', s.base, '--staging-dir', s.other]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('is on another filesystem');
    expect(treeState(s.base)).toEqual(before);
  });
});
