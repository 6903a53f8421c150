import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sysctl } from '../../../packages/systemd/test/fixture.js';
import { UNWIND, createSandbox, journalRecords, runProgram, type Sandbox } from '../../apply-shell/test/sandbox.js';

const INSTALL = join(import.meta.dirname, '../../apply-shell/install.sh');
const UNINSTALL = join(import.meta.dirname, '../uninstall.py');
let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.remove();
  sandbox = undefined;
});

if (spawnSync('python3', ['--version']).status !== 0) throw new Error('python3 is missing: .ci/run installs it on CI (Debian package python3)');

/** A sandbox with the service installed by install.sh, and its state then. */
async function installed(): Promise<{ sb: Sandbox; afterInstall: unknown }> {
  const sb = (sandbox = createSandbox());
  const r = await runProgram(['sh', INSTALL, sb.name], sb.env());
  if (r.code !== 0) throw new Error(`install.sh failed: ${r.stderr}`);
  return { sb, afterInstall: await sb.state() };
}

describe('examples/apply-python/uninstall.py through unwind apply --json', () => {
  it('removes the service, its unit, config and account, and prints each step from the JSON outcome: exit 0', async () => {
    const { sb } = await installed();
    const r = await runProgram(['python3', UNINSTALL, sb.name], sb.env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${sb.name} is uninstalled.`);
    expect(r.stdout.split('\n').filter((l) => l.trim().startsWith('committed'))).toHaveLength(5);
    expect(fs.readFileSync(join(sb.prefix, 'etc/passwd'), 'utf8')).not.toMatch(new RegExp(`^${sb.name}:`, 'm'));
    expect(fs.existsSync(sb.configDir)).toBe(false);
    expect(fs.existsSync(join(sb.unitDir, `${sb.name}.service`))).toBe(false);
    expect((await sysctl('is-active', '--', `${sb.name}.service`)).trim()).not.toBe('active');
  });

  it('a failing last step (injected: another tool holds the passwd lock) rolls back: the service runs again, exit 1, read from the JSON', async () => {
    const { sb, afterInstall } = await installed();
    // A live process's lock, as vipw or another useradd leaves while it works.
    fs.writeFileSync(join(sb.prefix, 'etc/passwd.lock'), `${process.pid}`);
    const r = await runProgram(['python3', UNINSTALL, sb.name], sb.env());
    fs.rmSync(join(sb.prefix, 'etc/passwd.lock'));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('everything is back as it was');
    expect(r.stdout).toMatch(/undone +stop /);
    expect(await sb.state()).toEqual(afterInstall);
  });

  it('SIGKILLed in the middle, `unwind recover` brings the installed service back', async () => {
    const { sb, afterInstall } = await installed();
    const installRecords = journalRecords(sb.journalRoot);
    const r = await runProgram(['python3', UNINSTALL, sb.name], sb.env(), { killWhen: () => journalRecords(sb.journalRoot) >= installRecords + 5 });
    expect(r.signal).toBe('SIGKILL');
    // The kill lands as the disable step starts; under load often inside `systemctl disable`, between its removal of
    // the links and its reload, where the manager's cached UnitFileState still says "enabled" (the
    // disable step's undo reads the links instead: packages/systemd/test/interrupted-reload.test.ts).
    const recovered = await runProgram([UNWIND, 'recover', '--root', sb.journalRoot], sb.env());
    expect(recovered.code, recovered.stderr + recovered.stdout).toBe(0);
    expect(recovered.stdout).toContain('Rolled back');
    expect(await sb.state()).toEqual(afterInstall);
  });
});
