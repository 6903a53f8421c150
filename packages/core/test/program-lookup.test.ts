import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandNotFoundError, findProgram, runCommand, trustedSearchPath } from '@unwind/core';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const NOBODY = 65534;

/** A temporary directory with `plant(dir, name, says)`: an executable script printing `says` and leaving a marker named after it. */
function workspace() {
  const dir = tempDir('unwind-programs-');
  cleanups.push(dir.remove);
  const ran = (says: string) => fs.existsSync(join(dir.path, `${says}.ran`));
  const plant = (subdirectory: string, name: string, says: string) => {
    const at = join(dir.path, subdirectory);
    fs.mkdirSync(at, { recursive: true, mode: 0o755 });
    const file = join(at, name);
    fs.writeFileSync(file, `#!/bin/sh\n: > '${join(dir.path, `${says}.ran`)}'\necho ${says}\n`, { mode: 0o755 });
    return file;
  };
  return { base: dir.path, plant, ran };
}

const run = (argv: string[], PATH: string, cwd?: string) => runCommand({ argv, env: { PATH, LC_ALL: 'C' }, ...(cwd ? { cwd } : {}) });

describe('runCommand finds a program as execvp does, but never one another user can change', () => {
  it('a bare name in a directory another user owns, or can write, is passed over for the next entry of PATH', async () => {
    const w = workspace();
    w.plant('theirs', 'tool', 'theirs');
    w.plant('shared', 'tool', 'shared');
    const ours = w.plant('ours', 'tool', 'ours');
    fs.chownSync(join(w.base, 'theirs'), NOBODY, NOBODY);
    fs.chmodSync(join(w.base, 'shared'), 0o777);
    const PATH = ['theirs', 'shared', 'ours'].map((d) => join(w.base, d)).join(':');
    const result = await run(['tool'], PATH);
    expect(result.stdout).toBe('ours\n');
    expect([w.ran('theirs'), w.ran('shared'), w.ran('ours')]).toEqual([false, false, true]);
    expect(findProgram('tool', PATH, undefined)).toEqual({ file: ours });
  });

  it('found only where another user can change it: CommandNotFoundError saying where and why, and nothing runs', async () => {
    const w = workspace();
    // A link another user owns, to a program root owns: they could point it anywhere.
    const target = w.plant('real', 'tool', 'target');
    const link = join(w.base, 'links', 'tool');
    fs.mkdirSync(join(w.base, 'links'));
    fs.symlinkSync(target, link);
    fs.lchownSync(link, NOBODY, NOBODY);
    // A program root owns that group and others can write.
    const theirs = w.plant('bin', 'tool', 'theirs');
    fs.chmodSync(theirs, 0o775);
    const error = await run(['tool'], `${join(w.base, 'links')}:${join(w.base, 'bin')}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandNotFoundError);
    const message = (error as Error).message;
    expect(message).toContain(`cannot run tool: found only where another user can change it: program ${link} is a symlink owned by uid ${NOBODY}`);
    expect(message).toContain(`; program ${theirs} is writable by group or others (mode 0775)`);
    expect([w.ran('target'), w.ran('theirs')]).toEqual([false, false]);
  });

  it("a root-owned link to a link in another user's directory is refused at that link, as a path or found in PATH, and as a PATH entry", async () => {
    const w = workspace();
    // /sbin/tool -> /opt/tool/current/tool, where /opt/tool is the deploy user's and current their link to root's release.
    const release = w.plant('release', 'tool', 'release');
    const theirs = join(w.base, 'opt');
    fs.mkdirSync(theirs, { mode: 0o755 });
    fs.symlinkSync(join(w.base, 'release'), join(theirs, 'current'));
    fs.lchownSync(join(theirs, 'current'), NOBODY, NOBODY);
    fs.chownSync(theirs, NOBODY, NOBODY);
    fs.mkdirSync(join(w.base, 'sbin'), { mode: 0o755 });
    const link = join(w.base, 'sbin', 'tool');
    fs.symlinkSync(join(theirs, 'current', 'tool'), link);
    // Each way in: the link as a path, the link found by name in PATH, and a PATH entry that is such a link.
    const asPath = await run([link], '/usr/bin:/bin').catch((e: unknown) => e);
    expect(asPath).toBeInstanceOf(CommandNotFoundError);
    expect((asPath as Error).message).toContain(`has an ancestor ${theirs} owned by uid ${NOBODY}`);
    const byName = await run(['tool'], join(w.base, 'sbin')).catch((e: unknown) => e);
    expect(byName).toBeInstanceOf(CommandNotFoundError);
    expect(findProgram('tool', join(w.base, 'sbin'), undefined)).toMatchObject({ refused: expect.stringContaining(`owned by uid ${NOBODY}`) });
    fs.symlinkSync(join(theirs, 'current'), join(w.base, 'entry'));
    expect(trustedSearchPath(`${join(w.base, 'entry')}:/usr/bin`)).toBe('/usr/bin');
    expect(w.ran('release')).toBe(false);
    // Root's own link, in root's own directory, to the same release is fine.
    fs.symlinkSync(join(w.base, 'release', 'tool'), join(w.base, 'sbin', 'direct'));
    expect((await run([join(w.base, 'sbin', 'direct')], '/usr/bin:/bin')).stdout).toBe('release\n');
  });

  it('empty and relative PATH entries name the working directory: never searched', async () => {
    const w = workspace();
    w.plant('.', 'tool', 'here');
    for (const PATH of ['', ':', '.', './', 'x/..', `:${join(w.base, 'none')}`]) {
      const error = await run(['tool'], PATH, w.base).catch((e: unknown) => e);
      expect(error, PATH).toBeInstanceOf(CommandNotFoundError);
      expect((error as Error).message).toContain('not found in PATH');
    }
    expect(w.ran('here')).toBe(false);
    // Named as a path, it is the caller's choice, and runs (root owns it and its directories).
    expect((await run(['./tool'], '', w.base)).stdout).toBe('here\n');
  });

  it('a program named by its path is refused when another user can change it, never searched past', async () => {
    const w = workspace();
    const tool = w.plant('opt', 'tool', 'opt');
    fs.chownSync(join(w.base, 'opt'), NOBODY, NOBODY);
    const error = await run([tool], '/usr/bin:/bin').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandNotFoundError);
    expect((error as Error).message).toContain(`cannot run ${tool}: program ${tool} has an ancestor ${join(w.base, 'opt')} owned by uid ${NOBODY}`);
    expect(w.ran('opt')).toBe(false);
    fs.chownSync(join(w.base, 'opt'), 0, 0);
    expect((await run([tool], '/usr/bin:/bin')).stdout).toBe('opt\n');
  });

  it('a file that is not executable, or a directory, is skipped as execvp skips it; the program gets its name as argv[0]', async () => {
    const w = workspace();
    w.plant('a', 'tool', 'not-executable');
    fs.chmodSync(join(w.base, 'a', 'tool'), 0o644);
    fs.mkdirSync(join(w.base, 'b', 'tool'), { recursive: true });
    w.plant('c', 'tool', 'c');
    expect((await run(['tool'], ['a', 'b', 'c'].map((d) => join(w.base, d)).join(':'))).stdout).toBe('c\n');
    // What execvp passes as argv[0] is the name as written, not the file found.
    const cmdline = await run(['cat', '/proc/self/cmdline'], '/usr/bin:/bin');
    expect(cmdline.stdout.split('\0')[0]).toBe('cat');
  });
});

describe('the program gets only the PATH entries nobody else can change, and runs in /', () => {
  it('what a trusted program runs by name is never found in another user\'s directory, a shared one, or the working directory', async () => {
    const w = workspace();
    // A root-owned script that runs `helper` by name, as a validator or an installer's script would.
    fs.mkdirSync(join(w.base, 'trusted'), { mode: 0o755 });
    fs.writeFileSync(join(w.base, 'trusted', 'tool'), '#!/bin/sh\nhelper\n', { mode: 0o755 });
    w.plant('theirs', 'helper', 'theirs');
    w.plant('shared', 'helper', 'shared');
    w.plant('cwd', 'helper', 'cwd');
    w.plant('ours', 'helper', 'ours');
    fs.chownSync(join(w.base, 'theirs'), NOBODY, NOBODY);
    fs.chmodSync(join(w.base, 'shared'), 0o1777);
    const [theirs, shared, trusted, ours] = ['theirs', 'shared', 'trusted', 'ours'].map((d) => join(w.base, d));
    // The empty entry is the working directory to a shell's lookup.
    const PATH = `${theirs}:${shared}::${trusted}:${ours}:/usr/bin:/bin`;
    const result = await run(['tool'], PATH, join(w.base, 'cwd'));
    expect(result.stdout).toBe('ours\n');
    expect([w.ran('theirs'), w.ran('shared'), w.ran('cwd'), w.ran('ours')]).toEqual([false, false, false, true]);
    const env = await run(['env'], PATH);
    expect(env.stdout).toContain(`PATH=${trusted}:${ours}:/usr/bin:/bin\n`);
  });

  it('trustedSearchPath keeps trusted absolute entries in order, once; with none left, the trusted system directories', () => {
    const w = workspace();
    for (const d of ['a', 'b', 'sticky']) fs.mkdirSync(join(w.base, d), { mode: 0o755 });
    fs.chmodSync(join(w.base, 'sticky'), 0o1777);
    const [a, b, sticky] = ['a', 'b', 'sticky'].map((d) => join(w.base, d));
    expect(trustedSearchPath(`${b}:bin:.:${a}:${b}:${sticky}:${join(w.base, 'missing')}`)).toBe(`${b}:${a}`);
    const fallback = trustedSearchPath(`${sticky}::relative`);
    expect(fallback.split(':')).toContain('/usr/bin');
    expect(fallback.split(':')).not.toContain(sticky);
    expect(fallback).not.toMatch(/(^|:)(:|$)/);
  });

  it('a command runs in / unless cwd is given', async () => {
    const w = workspace();
    const previous = process.cwd();
    process.chdir(w.base);
    try {
      expect((await run(['pwd'], '/usr/bin:/bin')).stdout).toBe('/\n');
      expect((await run(['pwd'], '/usr/bin:/bin', w.base)).stdout).toBe(`${w.base}\n`);
    } finally {
      process.chdir(previous);
    }
  });
});
