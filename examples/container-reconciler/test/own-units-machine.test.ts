// The reconciler's own service and timer, installed into a real system
// manager: the throw-away machine's (systemd as PID 1), never this one's.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, type Machine } from '@unwind/core/testing';
import { execLine } from '../src/own-units.js';

const repoRoot = resolve(import.meta.dirname, '../../..');
const child = join(import.meta.dirname, 'fixtures', 'own-units-child.ts');

let machine: Machine;
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  machine = await bootMachine({ bind: [repoRoot] });
}, 120_000);
afterAll(async () => machine?.stop());

function install(failAfter: boolean) {
  const r = machine.run(['node', '--import', 'tsx', child, JSON.stringify({ failAfter })], { cwd: repoRoot, timeoutMs: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { status: string; message: string };
}
const show = (unit: string, ...properties: string[]) => machine.run(['systemctl', 'show', '-p', properties.join(','), unit]).stdout.trim();
const state = () => ({
  files: machine.run(['ls', '/etc/systemd/system', '/etc/systemd/system/timers.target.wants']).stdout,
  service: show('container-reconciler.service', 'LoadState'),
  timer: show('container-reconciler.timer', 'LoadState', 'ActiveState'),
});

describe("the reconciler's own service and timer in a system manager", () => {
  it('quotes a command for ExecStart without expansion', () => {
    expect(execLine(['/usr/bin/x', 'a b', 'c"d', '$HOME', '50%'])).toBe('"/usr/bin/x" "a b" "c\\"d" "$$HOME" "50%%"');
    expect(() => execLine(['relative'])).toThrow(/absolute/);
  });

  it('a failure after the timer started rolls back: no unit files, nothing loaded', () => {
    const before = state();
    expect(install(true).status).toBe('rolled-back');
    expect(state()).toEqual(before);
  });

  it('installs both; the service is ordered after logind, the timer is enabled, active, due after boot, and survives a manager re-exec', () => {
    const result = install(false);
    expect(result.status, result.message).toBe('committed');
    expect(show('container-reconciler.service', 'After')).toMatch(/systemd-logind\.service/);
    // The service runs the command with exactly its argv: spaces, $, % and quotes not expanded.
    expect(machine.run(['systemctl', 'start', 'container-reconciler.service']).status).toBe(0);
    expect(machine.run(['cat', '/run/reconciler-argv']).stdout).toBe('/srv/desired dir|a$b%c"d|');
    expect(machine.run(['systemctl', 'is-enabled', 'container-reconciler.timer']).stdout.trim()).toBe('enabled');
    expect(machine.run(['systemctl', 'is-active', 'container-reconciler.timer']).stdout.trim()).toBe('active');
    expect(show('container-reconciler.timer', 'TimersMonotonic')).toMatch(/OnBootUSec=2min/);
    expect(machine.run(['systemctl', 'daemon-reexec']).status).toBe(0);
    expect(machine.run(['systemctl', 'is-active', 'container-reconciler.timer']).stdout.trim()).toBe('active');
  });
});
