import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnsafeDirectoryError } from './errors.js';
import { assertPrivateChildDirectory, assertPrivateDirectory } from './private-directory.js';
import { fileJournal } from './journal/file-journal.js';

// The check of a directory just made inside a checked one: the directory itself, on a real disk.

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function base(): string {
  const dir = fs.mkdtempSync('/tmp/unwind-private-child-');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('assertPrivateChildDirectory', () => {
  it('refuses what assertPrivateDirectory refuses in the directory itself: a symlink, a file, another owner, group or other write', () => {
    const dir = base();
    fs.mkdirSync(join(dir, 'real'), { mode: 0o700 });
    fs.symlinkSync(join(dir, 'real'), join(dir, 'link'));
    fs.writeFileSync(join(dir, 'file'), '');
    expect(() => assertPrivateChildDirectory(join(dir, 'real'), 'transaction directory')).not.toThrow();
    expect(() => assertPrivateChildDirectory(join(dir, 'link'), 'transaction directory')).toThrow(/is a symlink/);
    expect(() => assertPrivateChildDirectory(join(dir, 'file'), 'transaction directory')).toThrow(/is not a directory/);
    fs.chmodSync(join(dir, 'real'), 0o770);
    expect(() => assertPrivateChildDirectory(join(dir, 'real'), 'transaction directory')).toThrow(UnsafeDirectoryError);
    fs.chmodSync(join(dir, 'real'), 0o700);
    fs.chownSync(join(dir, 'real'), 65534, 65534);
    expect(() => assertPrivateChildDirectory(join(dir, 'real'), 'transaction directory')).toThrow(/owned by uid 65534/);
  });

  it('does not walk the ancestors again: that is the parent check, which begin still makes on the journal root', () => {
    const dir = base();
    const open = join(dir, 'open');
    const root = join(open, 'journal');
    fs.mkdirSync(join(root, 'tx'), { recursive: true, mode: 0o700 });
    fs.chmodSync(open, 0o777);
    expect(() => assertPrivateChildDirectory(join(root, 'tx'), 'transaction directory')).not.toThrow();
    expect(() => assertPrivateDirectory(join(root, 'tx'), 'transaction directory')).toThrow(/ancestor .* writable by group or others/);
    expect(() => fileJournal({ root }).begin('refused')).toThrow(/journal root .* ancestor .* writable by group or others/);
    expect(fs.readdirSync(root)).toEqual(['tx']);
  });
});
