import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, inject } from 'vitest';
import { runCommand } from '@unwind/core';
import { fileHashes, pool, runTypeScript, treeState, type ChildOutcome } from '@unwind/core/testing';
import { unitState, type ManagerOptions } from '@unwind/systemd';
import { lookupGroup, lookupUser } from '@unwind/users';
import { defaultConfig, targets, unitFile } from '../src/install.js';
import { createSandbox, DB_FILES, type Sandbox } from '../src/sandbox.js';

/** The repository root: children run there so `--import tsx` and the tsconfig paths resolve. */
export const repoRoot = resolve(import.meta.dirname, '../../..');

/** The user manager the global setup started for the test worker running this file. */
function installerManager() {
  const managers = inject('installerManagers');
  // vitest numbers the workers running at the same time 1..maxWorkers.
  const worker = Number(process.env.VITEST_POOL_ID ?? '1');
  const manager = managers[managers.length === 1 && managers[0]!.skip ? 0 : worker - 1];
  // Never fall back to another worker's manager: two files would share a unit directory.
  if (!manager) throw new Error(`no user manager for test worker ${worker}: the global setup started ${managers.length}`);
  return manager;
}

/** Why the tests skip (not root, not in the namespace), or false. Printed once per file. */
export function skipReason(): string | false {
  const reason = installerManager().skip;
  return reason ?? false;
}

/** Manager options aimed at the test user manager. */
export function manager(): ManagerOptions {
  const m = installerManager();
  return { scope: 'user', home: m.home, runtimeDir: m.runtimeDir, unitDir: join(m.home, '.config/systemd/user'), commandTimeoutMs: 15_000 };
}

/** A service name no other test uses (a valid user name, too). */
export function uniqueName(): string {
  return `si${randomBytes(4).toString('hex')}`;
}

/** A fresh sandbox in a temp dir. */
export function makeSandbox(): Sandbox {
  return createSandbox(fs.mkdtempSync(join(tmpdir(), 'unwind-ex-installer-')));
}

/** Hashes of the machine's own user database, to prove the tests never touch it. */
export function machineDb(): Record<string, string> {
  return fileHashes('/etc', DB_FILES);
}

/**
 * Everything the installer may touch, read from the real system: the whole
 * sandbox tree (the journal and the shadow tools' own `<file>-` backups
 * aside), the prefix's database files byte for byte, the unit's files in the
 * manager's unit directory (file and enablement link) and its state.
 */
export async function installerState(sb: Sandbox, name: string) {
  const unit = `${name}.service`;
  const unitDir = manager().unitDir!;
  const entry = (p: string) => {
    try {
      const st = fs.lstatSync(p);
      return st.isSymbolicLink() ? { link: fs.readlinkSync(p) } : { mode: st.mode & 0o7777, bytes: fs.readFileSync(p, 'utf8') };
    } catch {
      return null;
    }
  };
  return {
    tree: treeState(sb.root, { ignore: (rel) => rel === 'var/lib/unwind-service-installer' || /^etc\/(passwd|group|shadow|gshadow)-$/.test(rel) }),
    db: Object.fromEntries(DB_FILES.map((f) => [f, fs.readFileSync(join(sb.root, 'etc', f), 'utf8')])),
    unitFile: entry(join(unitDir, unit)),
    wants: entry(join(unitDir, 'default.target.wants', unit)),
    unit: await unitState(unit, 'user', manager()),
  };
}

/** systemctl --user against the test manager, for set-up and clean-up. */
export async function sysctl(...args: string[]): Promise<string> {
  const m = installerManager();
  const r = await runCommand({ argv: ['systemctl', '--user', ...args], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', XDG_RUNTIME_DIR: m.runtimeDir, HOME: m.home }, timeoutMs: 15_000, okExitCodes: [0, 1, 3, 4, 5] });
  return r.stdout;
}

/** Removes every trace of a service's unit from the test manager. */
export async function purgeUnit(name: string): Promise<void> {
  const unit = `${name}.service`;
  await sysctl('stop', '--', unit);
  await sysctl('disable', '--', unit);
  fs.rmSync(join(manager().unitDir!, unit), { force: true });
  await sysctl('daemon-reload');
  await sysctl('reset-failed', '--', unit);
}

/** Runs a TypeScript file in a child node process; resolves with how it ended. */
export function runChild(script: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 90_000): Promise<ChildOutcome> {
  return runTypeScript(script, args, { cwd: repoRoot, env, killAfterMs: timeoutMs });
}

export { pool };

/** The end state the installer promises, read from the real system. */
export async function expectInstalled(sb: Sandbox, name: string): Promise<void> {
  const t = targets({ name, prefix: sb.root });
  const user = await lookupUser(name, { prefix: sb.root });
  const group = await lookupGroup(name, { prefix: sb.root });
  expect(group).toBeDefined();
  expect(user).toMatchObject({ name, gid: group!.gid, home: `/var/lib/${name}`, shell: '/usr/sbin/nologin' });
  expect(user!.uid).toBeLessThan(1000); // a system account
  expect(fs.statSync(join(sb.root, 'var/lib', name)).uid).toBe(user!.uid);
  expect(fs.existsSync(join(sb.lingerDir, name))).toBe(true);
  const st = fs.statSync(t.configPath);
  expect({ mode: st.mode & 0o777, uid: st.uid, gid: st.gid, text: fs.readFileSync(t.configPath, 'utf8') }).toEqual({ mode: 0o640, uid: 0, gid: group!.gid, text: defaultConfig(name) });
  const unitDir = manager().unitDir!;
  expect(fs.readFileSync(join(unitDir, t.unit), 'utf8')).toBe(unitFile(name, t.configPath));
  expect(fs.readlinkSync(join(unitDir, 'default.target.wants', t.unit))).toBe(join(unitDir, t.unit));
  expect(await sysctl('show', '-p', 'LoadState,ActiveState,SubState,UnitFileState', '--', t.unit)).toBe('LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n');
  const pid = (await sysctl('show', '-p', 'MainPID', '--value', '--', t.unit)).trim();
  expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain(`GREETING=hello from ${name}`);
}

