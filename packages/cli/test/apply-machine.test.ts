// systemd.startUserManager acts on the system manager (user@UID.service), so
// it runs through `unwind apply` inside a throw-away machine: systemd as PID 1
// on an overlay of / that vanishes with it — never on the machine running the tests.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, MACHINE_STOP_WITHIN_MS, type Machine } from '@unwind/core/testing';
import { BIN, fixtures, repoRoot, requireBuilt } from './helpers.js';

let machine: Machine;
let inputs: string;
beforeAll(async () => {
  requireBuilt();
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  inputs = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-machine-'));
  machine = await bootMachine({ bind: [repoRoot, inputs] });
}, 120_000);
afterAll(async () => {
  await machine?.stop();
  if (inputs) fs.rmSync(inputs, { recursive: true, force: true });
}, MACHINE_STOP_WITHIN_MS);

function apply(name: string, steps: unknown[], ...extra: string[]) {
  const file = join(inputs, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ name, steps }));
  const r = machine.run(['node', BIN, 'apply', file, '--root', '/var/lib/unwind-apply-machine', '--json', ...extra], { cwd: repoRoot, timeoutMs: 120_000 });
  return { ...r, report: JSON.parse(r.stdout || '{}') as { exitCode: number; outcome: { status: string; cause?: { message: string }; steps: Array<{ type: string; status: string }> } } };
}

const userManagerState = (uid: string) => machine.run(['systemctl', 'show', '-p', 'ActiveState', `user@${uid}.service`]).stdout.trim();

describe('systemd.startUserManager through unwind apply (a throw-away machine, a real system manager)', () => {
  it('starts user@UID.service of an account made in the same file; a later failure stops it again and removes the account', () => {
    const account = { kind: 'users.ensureUser', args: { name: 'apuser', createHome: true } };
    const manager = { kind: 'systemd.startUserManager', args: { user: 'apuser', timeoutMs: 60_000 } };

    const activeUserManagers = () => machine.run(['systemctl', 'list-units', '--type=service', '--state=active', '--no-legend', '--plain', 'user@*']).stdout;
    const before = activeUserManagers();
    const failed = apply('start then fail', [account, manager, { kind: 'test.fail', args: { message: 'injected after the user manager started' } }], '--kinds', join(fixtures, 'test-kinds.mjs'));
    expect(failed.status, failed.stderr).toBe(1);
    expect(failed.report.outcome.status).toBe('rolled-back');
    // The failed step's own undo runs too (do may have half-happened): every step ends undone.
    expect(failed.report.outcome.steps.map((s) => s.status)).toEqual(['undone', 'undone', 'undone']);
    expect(JSON.stringify(failed.report.outcome)).toContain('injected after the user manager started');
    expect(machine.run(['getent', 'passwd', 'apuser']).status).toBe(2);
    expect(activeUserManagers()).toBe(before);

    const ok = apply('start the user manager', [account, manager]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.report.outcome.steps.map((s) => s.status)).toEqual(['committed', 'committed']);
    const uid = machine.run(['id', '-u', 'apuser']).stdout.trim();
    expect(userManagerState(uid)).toBe('ActiveState=active');
    expect(activeUserManagers()).toContain(`user@${uid}.service`);
  }, 300_000);
});
