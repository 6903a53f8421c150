// install.sh and the Python uninstaller as they run on a real machine: the
// system manager, /etc, useradd without a prefix — inside a throw-away machine
// (systemd as PID 1 on an overlay of / that vanishes with it), never on the
// machine running the tests.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, type Machine } from '@unwind/core/testing';
import { UNWIND, repoRoot } from './sandbox.js';

const INSTALL = join(repoRoot, 'examples/apply-shell/install.sh');
const UNINSTALL = join(repoRoot, 'examples/apply-python/uninstall.py');
const NAME = 'hello';

let machine: Machine;
let inputs: string;
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  if (!fs.existsSync(join(repoRoot, 'packages/cli/dist/bin.js'))) throw new Error('packages/cli is not built: run the build first');
  inputs = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-shell-machine-'));
  fs.writeFileSync(join(inputs, NAME), '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
  machine = await bootMachine({ bind: [repoRoot, inputs] });
}, 120_000);
afterAll(async () => {
  await machine?.stop();
  if (inputs) fs.rmSync(inputs, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({ UNWIND, APP_BIN: join(inputs, NAME), ...extra });
const out = (...argv: string[]) => {
  const r = machine.run(argv);
  return `${r.status}:${r.stdout.trim()}`;
};

/** What install.sh changes on the machine, as one comparable value. */
function machineState() {
  return {
    account: out('getent', 'passwd', NAME),
    group: out('getent', 'group', NAME),
    config: out('find', `/etc/${NAME}`, '-printf', '%p %y %m %u %g %s\\n'),
    unitFile: out('stat', '-c', '%F %a %U %G %s', `/etc/systemd/system/${NAME}.service`),
    wants: out('ls', '/etc/systemd/system/default.target.wants'),
    unit: out('systemctl', 'show', '-p', 'LoadState,ActiveState,UnitFileState', `${NAME}.service`),
  };
}

describe('install.sh and uninstall.py in a throw-away machine (a real system manager, the real /etc)', () => {
  it('a service that cannot start rolls the install back (exit 1); then install (exit 0) and uninstall (exit 0) for real', () => {
    const before = machineState();
    expect(before.account).toMatch(/^2:/);

    const failed = machine.run(['sh', INSTALL, NAME], { cwd: repoRoot, env: env({ APP_BIN: '/nonexistent/hello' }), timeoutMs: 120_000 });
    expect(failed.status, failed.stderr).toBe(1);
    expect(machineState()).toEqual(before);

    const installed = machine.run(['sh', INSTALL, NAME], { cwd: repoRoot, env: env(), timeoutMs: 120_000 });
    expect(installed.status, installed.stderr).toBe(0);
    const gid = machine.run(['id', '-g', NAME]).stdout.trim();
    expect(out('stat', '-c', '%a %u %g', `/etc/${NAME}/${NAME}.conf`)).toBe(`0:640 0 ${gid}`);
    expect(out('systemctl', 'is-active', `${NAME}.service`)).toBe('0:active');
    expect(out('systemctl', 'is-enabled', `${NAME}.service`)).toBe('0:enabled');

    const removed = machine.run(['python3', UNINSTALL, NAME], { cwd: repoRoot, env: env(), timeoutMs: 120_000 });
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`${NAME} is uninstalled.`);
    const after = machineState();
    expect(after.account).toMatch(/^2:/);
    expect(after.group).toMatch(/^2:/);
    expect(after.config).toBe(before.config);
    expect(after.unitFile).toBe(before.unitFile);
    expect(after.wants).toBe(before.wants);
    expect(after.unit).toMatch(/ActiveState=inactive/);
  }, 600_000);
});
