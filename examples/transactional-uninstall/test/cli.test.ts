import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { runChild } from './helpers.js';

const main = join(import.meta.dirname, '..', 'src', 'main.ts');
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandboxRoot(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-uninstall-cli-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'sb');
}

describe('transactional uninstall: the command line', () => {
  it('init, plan, uninstall --keep-data against a sandbox: plain words, progress, exit 0', async () => {
    const sb = sandboxRoot();
    const init = await runChild(main, ['init', '--sandbox', sb]);
    expect(init.code, init.stderr).toBe(0);
    const stateDir = join(sb, 'home', 'user', '.memtomem');
    expect(fs.existsSync(join(stateDir, 'memtomem.db'))).toBe(true);
    const before = treeState(sb);
    const plan = await runChild(main, ['plan', '--sandbox', sb, '--keep-data']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Would do (nothing was changed):');
    expect(plan.stdout).toContain('Kept: memories, uploads, database.');
    expect(treeState(sb)).toEqual(before);
    const run = await runChild(main, ['--sandbox', sb, '--keep-data']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Done: all 5 steps applied and verified.');
    expect(run.stderr).toContain('✔ committed: 5 steps');
    expect(fs.readdirSync(stateDir).sort()).toEqual(['memories', 'memtomem.db', 'memtomem.db-wal', 'uploads']);
    const recover = await runChild(main, ['recover', '--sandbox', sb]);
    expect(recover.stdout).toContain('Nothing to recover');
  });

  it('a running server (server.pid names a live process) is refused with exit 4, its pid and command on stderr, no stack trace', async () => {
    const sb = sandboxRoot();
    expect((await runChild(main, ['init', '--sandbox', sb])).code).toBe(0);
    const server = spawn('sleep', ['300'], { stdio: 'ignore' });
    cleanups.push(() => server.kill('SIGKILL'));
    const stateDir = join(sb, 'home', 'user', '.memtomem');
    fs.writeFileSync(join(stateDir, 'server.pid'), `${server.pid}\n`);
    const before = treeState(stateDir);
    const run = await runChild(main, ['uninstall', '--sandbox', sb]);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`Refused: the server is running (pid ${server.pid}: sleep 300`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(treeState(stateDir)).toEqual(before);
  });

  it('refuses paths outside the sandbox unless --real, and --real without --state-dir', async () => {
    const sb = sandboxRoot();
    const outside = await runChild(main, ['--sandbox', sb, '--state-dir', join(tmpdir(), 'elsewhere')]);
    expect(outside.code).toBe(4);
    expect(outside.stderr).toContain('outside the sandbox');
    const real = await runChild(main, ['--real']);
    expect(real.code).toBe(64);
    expect(real.stderr).toContain('--real needs --state-dir');
    expect(fs.existsSync(sb)).toBe(false);
  });

  it("a sandbox another user made (/tmp is anyone's) is refused before anything is written in it: her link is never followed", async () => {
    const sb = sandboxRoot();
    const target = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-uninstall-target-'));
    cleanups.push(() => fs.rmSync(target, { recursive: true, force: true }));
    fs.mkdirSync(sb, { mode: 0o755 });
    fs.symlinkSync(target, join(sb, 'home'));
    fs.lchownSync(join(sb, 'home'), 65534, 65534);
    fs.chownSync(sb, 65534, 65534);
    for (const command of ['init', 'uninstall']) {
      const run = await runChild(main, [command, '--sandbox', sb]);
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain('owned by uid 65534');
    }
    expect(fs.readdirSync(target)).toEqual([]);
  });
});
