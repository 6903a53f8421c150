// removeUser removes a linger file only: an empty regular file in a linger
// directory only root controls. Anything else named <lingerDir>/<name> is
// refused at prepare, before anything is touched.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Outcome, type Step } from '@unwind/core';
import { failingStep, requireHere } from '@unwind/core/testing';
import { removeUser } from '../src/index.js';
import { faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, SHADOW_TOOLS, skipReason, type PrefixRoot } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = Step<any, any, any>;

beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

async function run(steps: AnyStep[]): Promise<{ outcome: Outcome; calls: string[][] }> {
  const { exec, calls } = faultyExec();
  const tx = transaction('users linger file', { journal: memoryJournal(), handleSignals: false, exec, retry: { do: { retries: 0, minTimeout: 10 } } });
  for (const s of steps) tx.add(s);
  return { outcome: await tx.run(), calls };
}

/** Refused with `code`, no tool ran, and the prefix root (database files, homes, linger tree) is as it was. */
async function refused(step: AnyStep, code: string, root: PrefixRoot): Promise<void> {
  const before = root.state();
  const { outcome, calls } = await run([step]);
  expect(outcome.status === 'refused' || outcome.status === 'rolled-back').toBe(true);
  expect('cause' in outcome && outcome.cause.code).toBe(code);
  expect(calls.filter((c) => SHADOW_TOOLS.includes(c[0]!) || c[0] === 'pkill')).toEqual([]);
  expect(root.state()).toEqual(before);
}

describe('removeUser touches only a real linger file', () => {
  it("{ name: 'shadow', lingerDir: PREFIX/etc } leaves PREFIX/etc/shadow alone (no such user)", async () => {
    p = prefixRoot();
    await refused(removeUser({ name: 'shadow', prefix: p.root, lingerDir: join(p.root, 'etc') }), 'UNSAFE_PATH', p);
    expect(fs.statSync(join(p.root, 'etc/shadow')).size).toBeGreaterThan(0);
  });

  it('a non-empty file, a directory, a symlink (even to an empty file) are refused', async () => {
    p = prefixRoot();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
    const entry = join(p.lingerDir, 'bob');
    fs.writeFileSync(entry, 'not a linger file');
    await refused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_PATH', p);
    fs.rmSync(entry);
    fs.mkdirSync(entry);
    await refused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_PATH', p);
    fs.rmdirSync(entry);
    fs.writeFileSync(join(p.root, 'empty'), '');
    fs.symlinkSync(join(p.root, 'empty'), entry);
    await refused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_PATH', p);
    expect(fs.lstatSync(entry).isSymbolicLink()).toBe(true);
  });

  it('a linger directory others can write, or one reached through a symlink, is refused', async () => {
    p = prefixRoot();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
    fs.writeFileSync(join(p.lingerDir, 'bob'), '');
    fs.chmodSync(p.lingerDir, 0o777);
    await refused(removeUser({ name: 'bob', prefix: p.root }), 'UNSAFE_DIRECTORY', p);
    fs.chmodSync(p.lingerDir, 0o755);
    const other = join(p.root, 'other-linger');
    fs.mkdirSync(other, { mode: 0o755 });
    fs.chownSync(other, 1, 1); // owned by someone else than root
    fs.writeFileSync(join(other, 'bob'), '');
    fs.symlinkSync(other, join(p.root, 'linger-link'));
    await refused(removeUser({ name: 'bob', prefix: p.root, lingerDir: join(p.root, 'linger-link') }), 'UNSAFE_DIRECTORY', p);
    expect(fs.existsSync(join(other, 'bob'))).toBe(true);
  });

  it('a real (empty) linger file is removed, and put back empty by the undo', async () => {
    p = prefixRoot();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
    fs.writeFileSync(join(p.lingerDir, 'bob'), '');
    const before = p.state();
    const { outcome } = await run([removeUser({ name: 'bob', prefix: p.root, graceMs: 100 }), failingStep({ message: 'a later step fails' })]);
    expect(outcome.status).toBe('rolled-back');
    expect(p.state()).toEqual(before);
    const { outcome: again } = await run([removeUser({ name: 'bob', prefix: p.root, graceMs: 100 })]);
    expect(again.status).toBe('committed');
    expect(fs.existsSync(join(p.lingerDir, 'bob'))).toBe(false);
  });
});
