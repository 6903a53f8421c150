import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere, treeState } from '@unwind/core/testing';
import { ANSI, fixtures, killedAt, newSandbox, repoRoot, requireBuilt, runCleanups, unwind } from './helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

describe('conventions', () => {
  const { version } = JSON.parse(fs.readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };

  it('--version prints the package version', async () => {
    const r = await unwind(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('the installed `unwind` command (the bin pnpm links into a dependent package) runs the built program', () => {
    const linked = join(repoRoot, 'examples/demo/node_modules/.bin/unwind');
    expect(fs.existsSync(linked), `${linked} was not linked at install`).toBe(true);
    expect(execFileSync(linked, ['--version'], { encoding: 'utf8' }).trim()).toBe(version);
  });

  it('--help works on the program and on every command, on stdout, exit 0', async () => {
    const top = await unwind(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['status', 'recover', 'log', 'plan']) expect(top.stdout).toContain(command);
    expect(top.stdout).toContain('Exit codes');
    for (const command of ['status', 'recover', 'log', 'plan']) {
      const r = await unwind([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toMatch(new RegExp(`^Usage: unwind ${command}`));
      expect(r.stderr, command).toBe('');
    }
    expect((await unwind(['recover', '--help'])).stdout).toContain('--kinds <module>');
  });

  it('bad arguments: a clear error on stderr, nothing on stdout, exit 4', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['status', '--bogus'], /unknown option '--bogus'/],
      [['log'], /missing required argument 'txid'/],
      [['plan'], /missing required argument 'module'/],
      [['status'], /no journal root: pass --root DIR or set UNWIND_ROOT/],
      [['recover', '--root', '/tmp', '../../etc'], /"..\/..\/etc" is not a transaction id/],
      [['log', '--root', '/tmp', 'deadbe'], /no transaction "deadbe" under \/tmp/],
      [['recover', '--root'], /option '--root <dir>' argument missing/],
    ];
    for (const [args, message] of cases) {
      const r = await unwind(args);
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr, args.join(' ')).toMatch(/^unwind: /);
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });

  it('takes the root from UNWIND_ROOT; a root that does not exist is reported, not an error', async () => {
    const s = newSandbox();
    const r = await unwind(['status'], { env: { UNWIND_ROOT: s.root } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Journal root ${s.root} (does not exist`);
    const rec = await unwind(['recover', '--root', s.root]);
    expect(rec.code).toBe(0);
    expect(rec.stdout).toContain('Nothing to recover');
    expect(fs.existsSync(s.root)).toBe(false); // looking created nothing
  });
});

describe('plan', () => {
  it('prints the steps a module would run and changes nothing', async () => {
    const s = newSandbox();
    const before = treeState(s.dir);
    const r = await unwind(['plan', join(fixtures, 'plan-module.mjs')], { env: { PLAN_DIR: s.dir } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      [
        'Plan install demo: 2 steps (nothing is changed)',
        `  1. write ${s.dir}/app.conf  [test.writeMarker]  may change`,
        `  2. remove ${s.dir}/old.log (staged)  [test.stagedRemove]  may change`,
        '',
      ].join('\n'),
    );
    expect(treeState(s.dir)).toEqual(before);
    const json = JSON.parse((await unwind(['plan', join(fixtures, 'plan-module.mjs'), '--json'], { env: { PLAN_DIR: s.dir } })).stdout);
    expect(json.name).toBe('install demo');
    expect(json.steps.map((e: { type: string }) => e.type)).toEqual(['test.writeMarker', 'test.stagedRemove']);
  });

  it('a step with invalid arguments: says so, exit 4', async () => {
    const r = await unwind(['plan', './packages/cli/test/fixtures/plan-invalid.mjs']);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('2. test.writeMarker  [test.writeMarker]  invalid');
    expect(r.stdout).toContain('running this transaction would be refused');
    expect(fs.existsSync('/tmp/unwind-plan-never')).toBe(false);
  });

  it('a module without a transaction, or none at all: exit 4', async () => {
    const none = await unwind(['plan', join(fixtures, 'no-kinds.mjs')]);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/no-kinds\.mjs exports no transaction/);
    const missing = await unwind(['plan', 'does-not-exist.mjs']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/^unwind: error: cannot load module does-not-exist\.mjs/);
  });
});

describe('colour', () => {
  const hasScript = (() => {
    try {
      return fs.existsSync('/usr/bin/script');
    } catch {
      return false;
    }
  })();

  it('never on a pipe; FORCE_COLOR turns it on; NO_COLOR always wins', async () => {
    const k = await killedAt(6);
    expect((await unwind(['status', '--root', k.root])).stdout).not.toMatch(ANSI);
    expect((await unwind(['status', '--root', k.root], { env: { FORCE_COLOR: '1' } })).stdout).toMatch(ANSI);
    expect((await unwind(['status', '--root', k.root], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } })).stdout).not.toMatch(ANSI);
  });

  it('on a real terminal (a pty from script(1)): colour, unless NO_COLOR', async () => {
    requireHere(hasScript ? false : '/usr/bin/script (bsdutils) not found', 'script(1) for a pseudo-terminal');
    const k = await killedAt(6);
    const onPty = (env: Record<string, string>) =>
      execFileSync('script', ['-qec', `${process.execPath} packages/cli/dist/bin.js status --root ${k.root}`, '/dev/null'], {
        cwd: join(import.meta.dirname, '../../..'),
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm', ...env },
        encoding: 'utf8',
      });
    expect(onPty({})).toMatch(/\x1b\[33mINTERRUPTED\x1b\[39m/);
    expect(onPty({ NO_COLOR: '1' })).not.toMatch(ANSI);
  });
});
