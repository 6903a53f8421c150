// The installer as a real installer runs: `--real --system` inside a throw-away
// machine (a real systemd system manager as PID 1, an overlay of / that
// vanishes with it), so the system user, /etc, the unit in
// /etc/systemd/system, enable and start all happen for real — on that
// machine only, never on the one running the tests.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, MACHINE_STOP_WITHIN_MS, type Machine } from '@unwind/core/testing';

const repoRoot = resolve(import.meta.dirname, '../../..');
const DB = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow'];

let machine: Machine;
let inputs: string;
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  inputs = fs.mkdtempSync(join(tmpdir(), 'unwind-service-installer-inputs-'));
  fs.writeFileSync(join(inputs, 'no-greeting.conf'), '# GREETING is missing: the service refuses to run\nCOLOR=blue\n');
  machine = await bootMachine({ bind: [repoRoot, inputs] });
}, 120_000);
afterAll(async () => {
  await machine?.stop();
  if (inputs) fs.rmSync(inputs, { recursive: true, force: true });
}, MACHINE_STOP_WITHIN_MS);

/** Runs the installer's command line inside the machine. */
function cli(...args: string[]) {
  return machine.run(['node', '--import', 'tsx', 'examples/service-installer/src/main.ts', ...args], { cwd: repoRoot, timeoutMs: 120_000 });
}

function out(...argv: string[]): string {
  const r = machine.run(argv);
  return `${r.status}:${r.stdout.trim()}`;
}

/** Everything an install of `hello` changes on the machine, as one comparable value. */
function machineState() {
  return {
    db: out('sha256sum', ...DB),
    account: out('getent', 'passwd', 'hello'),
    group: out('getent', 'group', 'hello'),
    // Type, mode, owner, size and bytes: not times (a second run rewrites the files with the same bytes).
    home: out('stat', '-c', '%F %a %U %G', '/var/lib/hello'),
    config: `${out('find', '/etc/hello', '-printf', '%p %y %m %u %g %s\\n')} ${out('sha256sum', '/etc/hello/hello.conf')}`,
    unitFile: `${out('stat', '-c', '%F %a %U %G %s', '/etc/systemd/system/hello.service')} ${out('sha256sum', '/etc/systemd/system/hello.service')}`,
    wants: out('ls', '/etc/systemd/system/multi-user.target.wants'),
    unit: out('systemctl', 'show', '-p', 'LoadState,ActiveState,UnitFileState', 'hello.service'),
  };
}

describe('service-installer --real --system in a throw-away machine (a real system manager as PID 1)', () => {
  it('a failure right after each phase (0-9) rolls back: the machine is exactly as before, exit 1', () => {
    const before = machineState();
    expect(before.account).toMatch(/^2:/); // no such user yet
    for (let n = 0; n <= 9; n++) {
      const r = cli('--real', '--system', '--fail-after', String(n));
      expect(r.status, `after phase ${n}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain('Installing service hello on this machine FAILED, and a rollback ran.');
      expect(r.stderr).toContain('Result: rolled back — nothing of the install is left.');
      expect(machineState(), `after phase ${n}`).toEqual(before);
    }
  }, 600_000);

  it('a config the service cannot run with: the start fails, everything is rolled back with the reason', () => {
    const before = machineState();
    const r = cli('--real', '--system', '--config', join(inputs, 'no-greeting.conf'));
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/start hello\.service|wait until hello\.service is active/);
    expect(machineState()).toEqual(before);
  }, 120_000);

  it('installs for real: system user and group, config 0640 root:hello, unit enabled in multi-user.target and active, running as hello; it survives a manager restart; a second run leaves the same bytes, modes and owners', () => {
    const r = cli('--real', '--system');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Installed service hello on this machine: user and group hello, running as hello in the system manager, config written, hello.service enabled and active.');
    const uid = Number(machine.run(['id', '-u', 'hello']).stdout.trim());
    const minimum = Number(/^UID_MIN\s+(\d+)/m.exec(machine.run(['cat', '/etc/login.defs']).stdout)?.[1] ?? 1000);
    expect(uid).toBeGreaterThan(0);
    expect(uid).toBeLessThan(minimum); // a system account
    expect(out('stat', '-c', '%a %U %G', '/etc/hello/hello.conf')).toBe('0:640 root hello');
    expect(out('readlink', '/etc/systemd/system/multi-user.target.wants/hello.service')).toBe('0:/etc/systemd/system/hello.service');
    expect(out('systemctl', 'is-active', 'hello.service')).toBe('0:active');
    const pid = machine.run(['systemctl', 'show', '-p', 'MainPID', '--value', 'hello.service']).stdout.trim();
    expect(out('ps', '-o', 'user=', '-p', pid)).toBe('0:hello');
    expect(machine.run(['cat', `/proc/${pid}/environ`]).stdout.split('\0')).toContain('GREETING=hello from hello');
    // The system manager re-executes itself (as after a package upgrade): the service is still enabled and active.
    expect(machine.run(['systemctl', 'daemon-reexec']).status).toBe(0);
    expect(out('systemctl', 'is-enabled', 'hello.service')).toBe('0:enabled');
    expect(out('systemctl', 'is-active', 'hello.service')).toBe('0:active');
    const installed = machineState();
    const again = cli('--real', '--system');
    expect(again.status, again.stderr).toBe(0);
    expect(machineState()).toEqual(installed);
  }, 240_000);
});
