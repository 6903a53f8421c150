// main.go built with the Go toolchain and run for real against temp
// directories: the config directory and journal root are a sandbox's, unwind
// is the built CLI.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { UNWIND, buildInstaller, killCounter, killPoints } from './helpers.js';

let installer: ReturnType<typeof buildInstaller> | undefined;
let binary = '';
beforeAll(() => {
  installer = buildInstaller();
  binary = installer.binary;
}, 300_000);
afterAll(() => installer?.remove());

interface Sandbox {
  base: string;
  configDir: string;
  root: string;
  /** The config side of the sandbox (everything but the journal root), as a comparable value. */
  state(): unknown;
}

const sandboxes: string[] = [];
afterEach(() => sandboxes.splice(0).forEach((base) => fs.rmSync(base, { recursive: true, force: true })));

function createSandbox(): Sandbox {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-go-'));
  sandboxes.push(base);
  fs.mkdirSync(join(base, 'etc'));
  fs.writeFileSync(join(base, 'etc', 'other.conf'), 'not ours\n');
  return { base, configDir: join(base, 'etc', 'hello'), root: join(base, 'journal'), state: () => treeState(join(base, 'etc')) };
}

function install(sb: Sandbox, extra: Record<string, string> = {}) {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', CONFIG_DIR: sb.configDir, JOURNAL_ROOT: sb.root, UNWIND, ...extra };
  const r = spawnSync(binary, [], { env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A directory for the kill counter's report, outside every sandbox (the counter's own writes must not be under the roots it counts). */
function reportDirectory(): string {
  const report = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-go-kills-'));
  sandboxes.push(report);
  return report;
}

describe('examples/apply-go (main.go) through unwind apply --json', () => {
  it('installs the config directory and both files, printing each step from the JSON outcome: exit 0', () => {
    const sb = createSandbox();
    const r = install(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((line) => line.startsWith('committed '))).toHaveLength(3);
    expect(r.stdout).toContain('hello is installed.');
    expect(fs.statSync(sb.configDir).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(join(sb.configDir, 'hello.conf'), 'utf8')).toBe('listen = 127.0.0.1:8080\n');
    expect(fs.statSync(join(sb.configDir, 'hello.conf')).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(join(sb.configDir, 'hello.env'), 'utf8')).toBe('HELLO_OPTS=--quiet\n');
    expect(fs.statSync(join(sb.configDir, 'hello.env')).mode & 0o777).toBe(0o600);
  });

  it('a file with problems: each printed from the JSON with its pointer, exit 4, nothing touched (not even the journal root)', () => {
    const sb = createSandbox();
    const before = sb.state();
    const r = install(sb, { CONFIG_DIR: 'relative/hello' });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr.split('\n').filter((line) => /^\/steps\/\d\/args: path "relative\/hello.*" must be an absolute path$/.test(line))).toHaveLength(3);
    expect(sb.state()).toEqual(before);
    expect(fs.existsSync(sb.root)).toBe(false);
  });

  it('a failing last step (injected: a directory where hello.env goes) rolls back: exit 1, read from the JSON, the config as before', () => {
    const sb = createSandbox();
    fs.mkdirSync(join(sb.configDir, 'hello.env'), { recursive: true });
    const before = sb.state();
    const r = install(sb);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^undone +write .*hello\.conf/m);
    expect(r.stdout).toMatch(/^failed +write .*hello\.env/m);
    expect(r.stderr).toMatch(/^install-hello: .*hello\.env.*\([A-Z_]+\)$/m);
    expect(r.stdout).not.toContain('hello is installed.');
    expect(sb.state()).toEqual(before);
  });

  it('unwind cannot be started: the error, exit 4', () => {
    const sb = createSandbox();
    const r = install(sb, { UNWIND: join(sb.base, 'no-such-unwind') });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('install-hello: cannot run unwind:');
  });

  it('unwind SIGKILLed mid-run (after the directory is made, after each file is put in place): main.go says to recover (exit 2); `unwind recover` puts the config back as before', () => {
    // A counting run learns the operations; then one run killed right after each chosen one.
    const counted = createSandbox();
    const countReport = reportDirectory();
    const clean = install(counted, killCounter([counted.base], countReport));
    expect(clean.code, clean.stderr).toBe(0);
    const chosen = killPoints(countReport);
    expect(chosen.map((o) => o.label.split(' ')[0])).toEqual(['mkdirSync', 'renameSync', 'renameSync']);

    for (const point of chosen) {
      const sb = createSandbox();
      const before = sb.state();
      const report = reportDirectory();
      const r = install(sb, killCounter([sb.base], report, point.operation));
      expect(fs.readFileSync(join(report, 'killed.txt'), 'utf8')).toContain(`after operation ${point.operation}`);
      expect(r.code, `${point.label}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`install-hello: unwind was killed (signal: killed); finish its rollback with \`unwind recover --root ${sb.root}\``);
      expect(sb.state(), point.label).not.toEqual(before);
      const recovered = spawnSync(UNWIND, ['recover', '--root', sb.root], { encoding: 'utf8', timeout: 120_000 });
      expect(recovered.status, `${point.label}: ${recovered.stderr}${recovered.stdout}`).toBe(0);
      expect(recovered.stdout).toContain('Rolled back');
      expect(sb.state(), point.label).toEqual(before);
    }
  }, 300_000);
});
