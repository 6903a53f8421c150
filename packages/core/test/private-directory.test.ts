import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPrivateDirectory, assertTrustedFile, judgeTrustedFile, makePrivateDirectory, UnsafeDirectoryError } from '@unwind/core';
import { tempDir } from './helpers.js';

// The StrictModes rule, on real directories (we run as root: chown works).

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function base(): string {
  const dir = tempDir('unwind-private-');
  cleanups.push(dir.remove);
  return dir.path;
}

function refusal(path: string): string {
  try {
    assertPrivateDirectory(path, 'journal root');
  } catch (error) {
    expect(error).toBeInstanceOf(UnsafeDirectoryError);
    return (error as UnsafeDirectoryError).message;
  }
  throw new Error(`${path} was accepted`);
}

describe('assertPrivateDirectory', () => {
  it('accepts a 0700 (or 0755) directory of the running user under /tmp (sticky ancestors are fine)', () => {
    const root = join(base(), 'journal');
    fs.mkdirSync(root, { mode: 0o700 });
    expect(() => assertPrivateDirectory(root, 'journal root')).not.toThrow();
    fs.chmodSync(root, 0o755);
    expect(() => assertPrivateDirectory(root, 'journal root')).not.toThrow();
  });

  it('refuses a symlink, a file, a missing path', () => {
    const dir = base();
    fs.mkdirSync(join(dir, 'real'), { mode: 0o700 });
    fs.symlinkSync(join(dir, 'real'), join(dir, 'link'));
    fs.writeFileSync(join(dir, 'file'), '');
    expect(refusal(join(dir, 'link'))).toMatch(/is a symlink/);
    expect(refusal(join(dir, 'file'))).toMatch(/is not a directory/);
    expect(refusal(join(dir, 'missing'))).toMatch(/cannot be examined \(ENOENT\)/);
  });

  it('refuses a directory owned by another user, or writable by group or others', () => {
    const dir = base();
    const root = join(dir, 'journal');
    fs.mkdirSync(root, { mode: 0o700 });
    fs.chownSync(root, 65534, 65534);
    expect(refusal(root)).toMatch(/owned by uid 65534, not by the running user/);
    fs.chownSync(root, process.geteuid!(), process.getegid!());
    for (const mode of [0o770, 0o707, 0o1777]) {
      fs.chmodSync(root, mode);
      expect(refusal(root)).toMatch(/writable by group or others/);
    }
  });

  it('refuses when an ancestor belongs to someone else or is writable by others without the sticky bit', () => {
    const dir = base();
    const parent = join(dir, 'parent');
    const root = join(parent, 'journal');
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    fs.chownSync(parent, 65534, 65534);
    expect(refusal(root)).toMatch(new RegExp(`ancestor ${parent} owned by uid 65534`));
    fs.chownSync(parent, 0, 0);
    fs.chmodSync(parent, 0o777);
    expect(refusal(root)).toMatch(new RegExp(`ancestor ${parent} writable by group or others`));
    fs.chmodSync(parent, 0o1777); // like /tmp
    expect(() => assertPrivateDirectory(root, 'journal root')).not.toThrow();
  });

  it('checks the real path too when an ancestor is a symlink', () => {
    const dir = base();
    const elsewhere = join(dir, 'elsewhere');
    fs.mkdirSync(join(elsewhere, 'journal'), { recursive: true, mode: 0o700 });
    fs.symlinkSync(elsewhere, join(dir, 'via'));
    expect(() => assertPrivateDirectory(join(dir, 'via', 'journal'), 'journal root')).not.toThrow();
    fs.chmodSync(elsewhere, 0o777);
    expect(refusal(join(dir, 'via', 'journal'))).toMatch(new RegExp(`ancestor ${elsewhere} writable`));
  });

  it('refuses a symlink on the way that another user owns, in a sticky directory where they may replace it', () => {
    const dir = base();
    const sticky = join(dir, 'shared');
    fs.mkdirSync(sticky, { mode: 0o700 });
    fs.chmodSync(sticky, 0o1777);
    const real = join(dir, 'real');
    fs.mkdirSync(join(real, 'journal'), { recursive: true, mode: 0o700 });
    const link = join(sticky, 'link');
    fs.symlinkSync(real, link);
    fs.lchownSync(link, 4242, 4242);
    expect(refusal(join(link, 'journal'))).toMatch(new RegExp(`ancestor ${link}, a symlink owned by uid 4242`));
    fs.lchownSync(link, 0, 0); // root's own link: in a sticky directory only root may replace it
    expect(() => assertPrivateDirectory(join(link, 'journal'), 'journal root')).not.toThrow();
  });

  it('refuses a root-owned symlink to a link another user owns (a hop the real path does not show), and such a link reached through `..`', () => {
    const dir = base();
    const real = join(dir, 'real');
    fs.mkdirSync(join(real, 'journal'), { recursive: true, mode: 0o700 });
    const home = join(dir, 'alice');
    fs.mkdirSync(home, { mode: 0o755 });
    fs.chownSync(home, 4242, 4242);
    const current = join(home, 'current');
    fs.symlinkSync(real, current);
    fs.lchownSync(current, 4242, 4242);
    const app = join(dir, 'app');
    fs.symlinkSync(current, app); // root's link, to alice's link, to root's directory
    // The directory holding alice's link is reached first: it is hers.
    expect(refusal(join(app, 'journal'))).toMatch(new RegExp(`ancestor ${home} owned by uid 4242`));
    fs.chownSync(home, 0, 0); // a link of hers in root's directory: still hers to repoint while she owns it
    expect(refusal(join(app, 'journal'))).toMatch(new RegExp(`ancestor ${current}, a symlink owned by uid 4242`));
    const relative = join(dir, 'via-dots');
    fs.symlinkSync('real/../alice/current', relative);
    expect(refusal(join(relative, 'journal'))).toMatch(new RegExp(`ancestor ${home} owned by uid 4242|ancestor ${current}, a symlink owned by uid 4242`));
    expect(() => makePrivateDirectory(join(app, 'journal', 'more'), 'journal root')).toThrow(new RegExp(`ancestor ${current}, a symlink owned by uid 4242`));
    fs.lchownSync(current, 0, 0);
    expect(() => assertPrivateDirectory(join(app, 'journal'), 'journal root')).not.toThrow();
    expect(fs.existsSync(join(real, 'journal', 'more'))).toBe(false);
  });

  it('refuses a chain of symlinks longer than the kernel follows, and a loop', () => {
    const dir = base();
    fs.mkdirSync(join(dir, 'l0'), { mode: 0o700 });
    for (let i = 1; i <= 41; i++) fs.symlinkSync(`l${i - 1}`, join(dir, `l${i}`));
    fs.mkdirSync(join(dir, 'l0', 'journal'), { mode: 0o700 });
    expect(refusal(join(dir, 'l41', 'journal'))).toMatch(/more than 40 symlinks|\(ELOOP\)/);
    expect(() => assertPrivateDirectory(join(dir, 'l40', 'journal'), 'journal root')).not.toThrow();
    fs.symlinkSync('loop-b', join(dir, 'loop-a'));
    fs.symlinkSync('loop-a', join(dir, 'loop-b'));
    expect(refusal(join(dir, 'loop-a', 'journal'))).toMatch(/more than 40 symlinks|\(ELOOP\)/);
  });
});

describe('makePrivateDirectory', () => {
  it('makes the missing levels 0700 whatever the umask, and accepts an existing private directory as it is', () => {
    const dir = base();
    const root = join(dir, 'var', 'lib', 'unwind');
    const umask = process.umask(0o022);
    try {
      makePrivateDirectory(root, 'journal root');
    } finally {
      process.umask(umask);
    }
    for (const level of [join(dir, 'var'), join(dir, 'var', 'lib'), root]) {
      const st = fs.lstatSync(level);
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(process.geteuid!());
    }
    fs.chmodSync(root, 0o755);
    makePrivateDirectory(root, 'journal root');
    expect(fs.lstatSync(root).mode & 0o777).toBe(0o755);
  });

  it('makes nothing under a directory another user owns, nor under one others may write', () => {
    const dir = base();
    const foreign = join(dir, 'alice');
    fs.mkdirSync(foreign, { mode: 0o755 });
    fs.chownSync(foreign, 4242, 4242);
    expect(() => makePrivateDirectory(join(foreign, 'app', 'unwind'), 'journal root')).toThrow(new RegExp(`ancestor ${foreign} owned by uid 4242`));
    expect(fs.readdirSync(foreign)).toEqual([]);
    const open = join(dir, 'open');
    fs.mkdirSync(open, { mode: 0o700 });
    fs.chmodSync(open, 0o777);
    expect(() => makePrivateDirectory(join(open, 'unwind'), 'journal root')).toThrow(UnsafeDirectoryError);
    expect(fs.readdirSync(open)).toEqual([]);
  });

  it('never sets a mode through a symlink another user put in place of the root: the target keeps its mode', () => {
    const dir = base();
    const foreign = join(dir, 'alice');
    fs.mkdirSync(foreign, { mode: 0o755 });
    fs.chownSync(foreign, 4242, 4242);
    const victim = join(dir, 'victim');
    fs.mkdirSync(victim, { mode: 0o755 });
    fs.symlinkSync(victim, join(foreign, 'unwind'));
    expect(() => makePrivateDirectory(join(foreign, 'unwind'), 'journal root')).toThrow(UnsafeDirectoryError);
    expect(fs.lstatSync(victim).mode & 0o7777).toBe(0o755);
  });

  it('refuses a file on the way with a typed error, before making anything', () => {
    const dir = base();
    fs.writeFileSync(join(dir, 'file'), '');
    expect(() => makePrivateDirectory(join(dir, 'file', 'unwind'), 'journal root')).toThrow(new RegExp(`ancestor ${join(dir, 'file')} .*not a directory`));
  });
});

describe('assertTrustedFile', () => {
  it('returns the real path of a file only root or the running user can change, and refuses one anyone else could', () => {
    const dir = base();
    const lib = join(dir, 'lib');
    fs.mkdirSync(lib, { mode: 0o755 });
    const file = join(lib, 'steps.mjs');
    fs.writeFileSync(file, 'export {};\n', { mode: 0o644 });
    const link = join(dir, 'link.mjs');
    fs.symlinkSync(file, link);
    expect(assertTrustedFile(link, 'module file')).toBe(file);
    fs.lchownSync(link, 4242, 4242);
    expect(() => assertTrustedFile(link, 'module file')).toThrow(/is a symlink owned by uid 4242/);
    fs.chownSync(file, 4242, 4242);
    expect(() => assertTrustedFile(file, 'module file')).toThrow(/is owned by uid 4242/);
    fs.chownSync(file, 0, 0);
    fs.chmodSync(file, 0o664);
    expect(() => assertTrustedFile(file, 'module file')).toThrow(/writable by group or others \(mode 0664\)/);
    fs.chmodSync(file, 0o644);
    fs.chownSync(lib, 4242, 4242);
    expect(() => assertTrustedFile(file, 'module file')).toThrow(new RegExp(`ancestor ${lib} owned by uid 4242`));
    fs.chownSync(lib, 0, 0);
    fs.chmodSync(lib, 0o1777); // sticky, like /tmp: root's file in it is fine
    expect(assertTrustedFile(file, 'module file')).toBe(file);
    expect(() => assertTrustedFile(lib, 'module file')).toThrow(UnsafeDirectoryError);
  });
});

describe('judgeTrustedFile', () => {
  it('says as data what assertTrustedFile throws: the real path, what is wrong, or the code of a path that does not resolve', () => {
    const dir = base();
    const file = join(dir, 'install.yaml');
    fs.writeFileSync(file, 'name: x\n', { mode: 0o644 });
    const link = join(dir, 'link.yaml');
    fs.symlinkSync(file, link);
    expect(judgeTrustedFile(link, 'transaction file')).toEqual({ real: file });
    fs.chownSync(file, 4242, 4242);
    expect(judgeTrustedFile(file, 'transaction file')).toEqual({ reason: `transaction file ${file} is owned by uid 4242 (only root or the running user may own it)` });
    expect(judgeTrustedFile(join(dir, 'absent.yaml'), 'transaction file')).toEqual({ missing: 'ENOENT' });
  });
});
