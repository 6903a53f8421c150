import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { treeState } from '@unwind/core/testing';
import { purgeUnit, sysctl, userManager } from '../../../packages/systemd/test/fixture.js';

export const repoRoot = resolve(import.meta.dirname, '../../..');
/** The `unwind` launcher of @unwind/cli (runs the built dist/bin.js). */
export const UNWIND = join(repoRoot, 'packages/cli/bin/unwind.js');

/**
 * Where an example acts instead of the machine: a prefix root with copies of
 * the user database (the shadow tools get -P), a config directory and the
 * program under a temp directory, the sandbox systemd user manager, and a
 * journal root.
 */
export interface Sandbox {
  base: string;
  name: string;
  prefix: string;
  configDir: string;
  journalRoot: string;
  appBin: string;
  /** `MANAGER` for install.sh: the sandbox user manager. */
  manager: string;
  unitDir: string;
  /** Everything the installer may change, to compare before and after. */
  state(): Promise<unknown>;
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  remove(): Promise<void>;
}

export function createSandbox(): Sandbox {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-example-'));
  const name = `apex${Math.random().toString(36).slice(2, 8)}`;
  const prefix = join(base, 'root');
  fs.mkdirSync(join(prefix, 'etc'), { recursive: true });
  for (const f of ['passwd', 'group', 'shadow', 'gshadow', 'login.defs']) {
    fs.copyFileSync(`/etc/${f}`, join(prefix, 'etc', f));
    fs.chmodSync(join(prefix, 'etc', f), fs.statSync(`/etc/${f}`).mode & 0o7777);
  }
  const appBin = join(base, 'bin', name);
  fs.mkdirSync(join(base, 'bin'));
  fs.writeFileSync(appBin, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
  const m = userManager();
  const unitDir = join(m.home!, '.config/systemd/user');
  const unit = `${name}.service`;
  const sandbox: Sandbox = {
    base,
    name,
    prefix,
    configDir: join(prefix, 'etc', name),
    journalRoot: join(base, 'journal'),
    appBin,
    manager: `user ${m.home} ${m.runtimeDir}`,
    unitDir,
    async state() {
      const db = Object.fromEntries(['passwd', 'group', 'shadow', 'gshadow'].map((f) => [f, fs.readFileSync(join(prefix, 'etc', f), 'utf8')]));
      return {
        db,
        config: fs.existsSync(sandbox.configDir) ? treeState(sandbox.configDir) : null,
        unitFile: fs.existsSync(join(unitDir, unit)) ? fs.readFileSync(join(unitDir, unit), 'utf8') : null,
        active: (await sysctl('is-active', '--', unit)).trim(),
        enabled: (await sysctl('is-enabled', '--', unit)).trim(),
      };
    },
    env: (extra = {}) => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      JOURNAL_ROOT: sandbox.journalRoot,
      CONFIG_DIR: sandbox.configDir,
      APP_BIN: appBin,
      USERS_PREFIX: prefix,
      MANAGER: sandbox.manager,
      UNWIND,
      ...extra,
    }),
    async remove() {
      await purgeUnit(unit);
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
  return sandbox;
}

/** How a child ended. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs argv in its own process group; with `killWhen`, SIGKILLs the whole
 * group (the script and the unwind it started) as soon as `killWhen()` holds.
 */
export function runProgram(argv: string[], env: NodeJS.ProcessEnv, options: { input?: string; killWhen?: () => boolean } = {}): Promise<Ended> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: repoRoot, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(options.input ?? '');
    const poll = options.killWhen
      ? setInterval(() => {
          if (options.killWhen!()) {
            clearInterval(poll);
            process.kill(-child.pid!, 'SIGKILL');
          }
        }, 2)
      : undefined;
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 100_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      // The group's other members (the unwind the script started) may still be being reaped: a
      // recover run now would see their lock as held. Wait until the whole group is gone.
      void groupGone(child.pid!).then(() => done({ code, signal, stdout, stderr }), fail);
    });
  });
}

async function groupGone(pgid: number): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`process group ${pgid} still has members 10 s after its leader ended`);
}

/** Journal records written so far under a journal root (all transactions). */
export function journalRecords(root: string): number {
  if (!fs.existsSync(root)) return 0;
  let count = 0;
  for (const id of fs.readdirSync(root)) {
    const path = join(root, id, 'journal.jsonl');
    if (fs.existsSync(path)) count += fs.readFileSync(path, 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('\0')).length; // the journal reserves zeros after its records
  }
  return count;
}
