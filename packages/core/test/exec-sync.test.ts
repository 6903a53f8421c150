import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandFailedError, CommandNotFoundError, CommandTimeoutError, runCommandSync } from '@unwind/core';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const NOBODY = 65534;

describe('runCommandSync: a short query run as runCommand runs it, for a check that cannot await', () => {
  it('argv without a shell, stdin from input, the explicit environment only', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const evil = `$(touch ${join(dir.path, 'pwned')})`;
    expect(runCommandSync({ argv: ['printf', '%s', evil] }).stdout).toBe(evil);
    expect(fs.existsSync(join(dir.path, 'pwned'))).toBe(false);
    expect(runCommandSync({ argv: ['cat'], input: 'from stdin' }).stdout).toBe('from stdin');
    process.env.UNWIND_SECRET_TEST = 'leak';
    try {
      const { stdout } = runCommandSync({ argv: ['env'] });
      expect(stdout).not.toContain('UNWIND_SECRET_TEST');
      expect(stdout).toContain('LC_ALL=C');
      expect(runCommandSync({ argv: ['pwd'] }).stdout).toBe('/\n');
    } finally {
      delete process.env.UNWIND_SECRET_TEST;
    }
  });

  it('a non-zero exit throws CommandFailedError with argv, exit code and stderr; okExitCodes and mapError shape it', () => {
    const argv = ['sh', '-c', 'echo nope >&2; exit 7'];
    let error: unknown;
    try {
      runCommandSync({ argv });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(CommandFailedError);
    expect((error as CommandFailedError).context).toMatchObject({ argv, exitCode: 7, stderr: 'nope\n' });
    expect(runCommandSync({ argv: ['sh', '-c', 'exit 2'], okExitCodes: [0, 2] }).exitCode).toBe(2);
    class Busy extends Error {}
    expect(() => runCommandSync({ argv: ['sh', '-c', 'exit 8'], mapError: (r) => (r.exitCode === 8 ? new Busy('busy') : undefined) })).toThrow(Busy);
  });

  it('a program past its timeout is killed: CommandTimeoutError, well before it would have ended', () => {
    const started = performance.now();
    expect(() => runCommandSync({ argv: ['sleep', '30'], timeoutMs: 200 })).toThrow(CommandTimeoutError);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('output past 4 MiB kills the program and fails the run, with what it printed', () => {
    let error: unknown;
    try {
      runCommandSync({ argv: ['head', '-c', String(5 * 1024 * 1024), '/dev/zero'] });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(CommandFailedError);
    expect((error as CommandFailedError).result!.stdout.length).toBeGreaterThan(0);
  });

  it('bad input and a missing program are typed errors, and nothing runs', () => {
    expect(() => runCommandSync({ argv: [] })).toThrow(expect.objectContaining({ name: 'InvalidInputError' }));
    expect(() => runCommandSync({ argv: ['echo', 'a\0b'] })).toThrow(/NUL/);
    expect(() => runCommandSync({ argv: ['true'], timeoutMs: 3_000_000_000 })).toThrow(expect.objectContaining({ name: 'InvalidInputError' }));
    expect(() => runCommandSync({ argv: ['/nonexistent/program'] })).toThrow(CommandNotFoundError);
  });

  it("the program is found and vetted as runCommand finds it: another user's directory is passed over, and the program gets only trusted PATH entries", () => {
    const dir = tempDir('unwind-programs-');
    cleanups.push(dir.remove);
    const [theirs, ours] = ['theirs', 'ours'].map((name) => join(dir.path, name)) as [string, string];
    for (const [at, says] of [[theirs, 'theirs'], [ours, 'ours']] as const) {
      fs.mkdirSync(at, { mode: 0o755 });
      fs.writeFileSync(join(at, 'tool'), `#!/bin/sh\necho ${says}\necho "PATH=$PATH"\n`, { mode: 0o755 });
    }
    fs.chownSync(theirs, NOBODY, NOBODY);
    const { stdout } = runCommandSync({ argv: ['tool'], env: { PATH: `${theirs}:${ours}:/usr/bin:/bin`, LC_ALL: 'C' } });
    expect(stdout).toBe(`ours\nPATH=${ours}:/usr/bin:/bin\n`);
    expect(() => runCommandSync({ argv: [join(theirs, 'tool')] })).toThrow(/another user can change it|owned by uid 65534/);
  });
});
