import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere, treeState } from '@unwind/core/testing';
import { createSandbox } from '../src/sandbox.js';
import { machineDb, repoRoot, runChild, skipReason, uniqueName } from './helpers.js';

// The command line as a person runs it: it re-runs itself in its own private
// mount namespace and starts its own sandbox user manager there.
const skip = skipReason();
const main = join(repoRoot, 'examples/service-installer/src/main.ts');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function sandboxDir(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-installer-cli-'));
  dirs.push(dir);
  return dir;
}

/** The sandbox without the journal, the shadow tools' `<file>-` backups and the CLI's own manager runtime. */
const state = (root: string) => treeState(root, { ignore: (rel) => rel === 'var/lib/unwind-service-installer' || rel === 'manager' || /^etc\/(passwd|group|shadow|gshadow)-$/.test(rel) });

describe('service-installer command line', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('a clean run says what was installed and exits 0', async () => {
    const root = sandboxDir();
    const name = uniqueName();
    const machine = machineDb();
    const r = await runChild(main, ['--sandbox', root, '--name', name]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Installed service ${name} in the sandbox ${root}: user and group ${name}, linger on, config written, ${name}.service enabled and active.`);
    expect(r.stdout).toContain('Done: all 11 steps applied and verified.');
    expect(r.stderr).toContain('committed: 11 steps');
    expect(fs.readFileSync(join(root, 'etc/passwd'), 'utf8')).toMatch(new RegExp(`^${name}:`, 'm'));
    expect(fs.existsSync(join(root, 'var/lib/systemd/linger', name))).toBe(true);
    expect(fs.existsSync(join(root, 'manager/home/.config/systemd/user', `${name}.service`))).toBe(true);
    expect(machineDb()).toEqual(machine);
  });

  it('a failure after phase 8 (--fail-after 8): says what failed, that a rollback ran and how it ended; the sandbox is as before; exit 1', async () => {
    const root = sandboxDir();
    createSandbox(root);
    const before = state(root);
    const name = uniqueName();
    const r = await runChild(main, ['--sandbox', root, '--name', name, '--fail-after', '8']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`Installing service ${name} in the sandbox ${root} FAILED, and a rollback ran.`);
    expect(r.stderr).toContain('Step 9 of 12 failed: fail on purpose (demo failure after phase 8 (--fail-after))');
    expect(r.stderr).toContain('Rolled back 9 steps, newest first.');
    expect(r.stderr).toContain('Undone, newest first: enable, daemon-reload, unit file, config file, config directory, linger, user, group.');
    expect(r.stderr).toContain('Result: rolled back — nothing of the install is left.');
    expect(state(root)).toEqual(before);
    expect(fs.existsSync(join(root, 'manager/home/.config/systemd/user', `${name}.service`))).toBe(false);
  });

  it('recover with nothing interrupted says so; a directory that is not a sandbox is refused; bad usage exits 64', async () => {
    const root = sandboxDir();
    createSandbox(root);
    const rec = await runChild(main, ['recover', '--sandbox', root]);
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stdout).toContain('Nothing to recover: no interrupted install.');

    const other = sandboxDir();
    fs.writeFileSync(join(other, 'precious.txt'), 'mine');
    const refused = await runChild(main, ['--sandbox', other]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`Refusing: ${other} exists and is not a sandbox made by this program.`);
    expect(fs.readdirSync(other)).toEqual(['precious.txt']);

    const usage = await runChild(main, ['--real', '--sandbox', root]);
    expect(usage.code).toBe(64);
    expect(usage.stderr).toContain('--real and --sandbox exclude each other.');
  });

  it("a sandbox another user made (one left in /tmp) is refused before anything in it is read or run: their passwd, loginctl and units stay theirs; exit 4", async () => {
    // Mallory's tree: it looks like a sandbox this program made, with her loginctl and a unit in the manager's home.
    const root = sandboxDir();
    const marker = join(sandboxDir(), 'ran');
    fs.mkdirSync(join(root, 'etc'));
    fs.copyFileSync('/etc/passwd', join(root, 'etc/passwd'));
    fs.mkdirSync(join(root, 'var/lib/systemd/linger'), { recursive: true });
    fs.mkdirSync(join(root, 'usr/bin'), { recursive: true });
    fs.writeFileSync(join(root, 'usr/bin/loginctl'), `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
    const wants = join(root, 'manager/home/.config/systemd/user/default.target.wants');
    fs.mkdirSync(wants, { recursive: true });
    fs.writeFileSync(join(root, 'manager/home/.config/systemd/user/evil.service'), `[Service]\nExecStart=/bin/touch ${marker}\n[Install]\nWantedBy=default.target\n`);
    fs.symlinkSync('../evil.service', join(wants, 'evil.service'));
    fs.chmodSync(root, 0o755);
    fs.chownSync(root, 65534, 65534);
    const before = state(root);
    const name = uniqueName();
    const r = await runChild(main, ['--sandbox', root, '--name', name]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`Refusing: sandbox root ${root} is owned by uid 65534, not by the running user (uid 0)`);
    expect(fs.existsSync(marker)).toBe(false);
    expect(state(root)).toEqual(before);
    expect(fs.existsSync(join(root, 'manager/manager.log'))).toBe(false);

    // Root's own, but writable by others: refused the same way; recover too.
    const open = sandboxDir();
    createSandbox(open);
    fs.chmodSync(open, 0o777);
    const openState = state(open);
    const rec = await runChild(main, ['recover', '--sandbox', open]);
    expect(rec.code, rec.stderr).toBe(4);
    expect(rec.stderr).toContain(`Refusing: sandbox root ${open} is writable by group or others (mode 0777)`);
    expect(state(open)).toEqual(openState);
  });
});
