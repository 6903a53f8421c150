// removeUser removes a linger file only: an empty regular file in a linger
// directory only root controls. Anything else named <lingerDir>/<name> is
// refused at prepare, before anything is touched.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failingStep, requireHere } from '@unwind/core/testing';
import { removeUser } from '../src/index.js';
import { expectRefused, faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot, runSteps, skipReason } from './helpers.js';

beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

describe('removeUser touches only a real linger file', () => {
  it("{ name: 'shadow', lingerDir: PREFIX/etc } leaves PREFIX/etc/shadow alone (no such user)", async () => {
    p = prefixRoot();
    await expectRefused(removeUser({ name: 'shadow', prefix: p.root, lingerDir: join(p.root, 'etc') }), 'UNSAFE_PATH', { state: p.state });
    expect(fs.statSync(join(p.root, 'etc/shadow')).size).toBeGreaterThan(0);
  });

  it('a non-empty file, a directory, a symlink (even to an empty file) are refused', async () => {
    p = prefixRoot();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
    const entry = join(p.lingerDir, 'bob');
    fs.writeFileSync(entry, 'not a linger file');
    await expectRefused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_PATH', { state: p.state });
    fs.rmSync(entry);
    fs.mkdirSync(entry);
    await expectRefused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_PATH', { state: p.state });
    fs.rmdirSync(entry);
    fs.writeFileSync(join(p.root, 'empty'), '');
    fs.symlinkSync(join(p.root, 'empty'), entry);
    await expectRefused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_PATH', { state: p.state });
    expect(fs.lstatSync(entry).isSymbolicLink()).toBe(true);
  });

  it('a linger directory others can write, or one reached through a symlink, is refused', async () => {
    p = prefixRoot();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
    fs.writeFileSync(join(p.lingerDir, 'bob'), '');
    fs.chmodSync(p.lingerDir, 0o777);
    await expectRefused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_DIRECTORY', { state: p.state });
    fs.chmodSync(p.lingerDir, 0o755);
    const other = join(p.root, 'other-linger');
    fs.mkdirSync(other, { mode: 0o755 });
    fs.chownSync(other, 1, 1); // owned by someone else than root
    fs.writeFileSync(join(other, 'bob'), '');
    fs.symlinkSync(other, join(p.root, 'linger-link'));
    await expectRefused(removeUser({ name: 'bob', prefix: p.root, lingerDir: join(p.root, 'linger-link') }), 'UNSAFE_DIRECTORY', { state: p.state });
    expect(fs.existsSync(join(other, 'bob'))).toBe(true);
  });

  it('a real (empty) linger file is removed, and put back empty by the undo', async () => {
    p = prefixRoot();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
    fs.writeFileSync(join(p.lingerDir, 'bob'), '');
    const before = p.state();
    const outcome = await runSteps('users linger file', [removeUser({ name: 'bob', prefix: p.root, graceMs: 100 }), failingStep({ message: 'a later step fails' })], faultyExec().exec);
    expect(outcome.status).toBe('rolled-back');
    expect(p.state()).toEqual(before);
    const again = await runSteps('users linger file', [removeUser({ name: 'bob', prefix: p.root, graceMs: 100 })], faultyExec().exec);
    expect(again.status).toBe('committed');
    expect(fs.existsSync(join(p.lingerDir, 'bob'))).toBe(false);
  });
});
