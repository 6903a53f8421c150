// The reconciler's own service and timer, installed into a real system
// manager: the throw-away machine's (systemd as PID 1), never this one's.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, temporaryDirectory, type Machine } from '@unwind/core/testing';
import { execLine } from '../src/own-units.js';
import { machineStart } from './machine-bundle.js';

const repoRoot = resolve(import.meta.dirname, '../../..');
const child = join(import.meta.dirname, 'fixtures', 'own-units-child.ts');

let machine: Machine;
let work: ReturnType<typeof temporaryDirectory>;
/** How the machine starts the child: bundled once (see machine-bundle.ts). */
let start: string[] = [];
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  work = temporaryDirectory('unwind-cr-own-units-machine-');
  start = await machineStart(child, work.path);
  machine = await bootMachine({ bind: [repoRoot, work.path] });
  // systemd lets a timer fire up to DefaultTimerAccuracySec (1 min) late to coalesce wake-ups: the
  // firing test waited 10-15 s for two firings 2 s apart. The machine's manager, not the units under
  // test, is told to be exact (read again by the re-exec).
  const exact = machine.run(['sh', '-c', 'mkdir -p /etc/systemd/system.conf.d && printf "[Manager]\\nDefaultTimerAccuracySec=1s\\n" > /etc/systemd/system.conf.d/exact-timers.conf && systemctl daemon-reexec']);
  const accuracy = machine.run(['systemctl', 'show', '-p', 'DefaultTimerAccuracyUSec', '--value']).stdout.trim();
  if (exact.status !== 0 || accuracy !== '1s') throw new Error(`the machine's manager could not be told to fire timers exactly (${accuracy}): ${exact.stderr}`);
}, 120_000);
afterAll(async () => {
  await machine?.stop();
  work?.remove();
});

function install(options: { failAfter?: boolean; name?: string; onBootSec?: string; interval?: string; runs?: string } = {}) {
  const r = machine.run(['node', ...start, JSON.stringify(options)], { cwd: repoRoot, timeoutMs: 120_000 });
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
    expect(install({ failAfter: true }).status).toBe('rolled-back');
    expect(state()).toEqual(before);
  });

  it('installs both; the service wants and is ordered after logind, systemd-analyze verify finds nothing, the timer is enabled, active, due after boot, and survives a manager re-exec', () => {
    const result = install();
    expect(result.status, result.message).toBe('committed');
    // The system manager's own reading of the units: loadable, every directive known, nothing it would warn about.
    const verify = machine.run(['systemd-analyze', 'verify', '/etc/systemd/system/container-reconciler.service', '/etc/systemd/system/container-reconciler.timer']);
    expect(verify.status, verify.stderr).toBe(0);
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe('');
    // After= alone orders; Wants= pulls logind (and the network) in, as the seed's review asks.
    const dependencies = show('container-reconciler.service', 'After', 'Wants').split('\n');
    expect(dependencies.find((l) => l.startsWith('After='))?.split(/[= ]/)).toEqual(expect.arrayContaining(['systemd-logind.service', 'network-online.target', 'systemd-user-sessions.service']));
    expect(dependencies.find((l) => l.startsWith('Wants='))?.split(/[= ]/)).toEqual(expect.arrayContaining(['systemd-logind.service', 'network-online.target']));
    // The service runs the command with exactly its argv: spaces, $, % and quotes not expanded.
    expect(machine.run(['systemctl', 'start', 'container-reconciler.service']).status).toBe(0);
    expect(machine.run(['cat', '/run/reconciler-argv']).stdout).toBe('/srv/desired dir|a$b%c"d|');
    expect(machine.run(['systemctl', 'is-enabled', 'container-reconciler.timer']).stdout.trim()).toBe('enabled');
    expect(machine.run(['systemctl', 'is-active', 'container-reconciler.timer']).stdout.trim()).toBe('active');
    const timers = show('container-reconciler.timer', 'TimersMonotonic');
    expect(timers).toMatch(/OnBootUSec=2min\b/);
    expect(timers).toMatch(/OnUnitActiveUSec=15min\b/);
    // A next elapse is set (the machine booted less than 2 min ago: boot + 2 min; later, at once).
    expect(show('container-reconciler.timer', 'NextElapseUSecMonotonic')).toMatch(/^NextElapseUSecMonotonic=(?!infinity$|0$)\S+/);
    expect(machine.run(['systemctl', 'daemon-reexec']).status).toBe(0);
    expect(machine.run(['systemctl', 'is-active', 'container-reconciler.timer']).stdout.trim()).toBe('active');
  });

  it('the timer fires the service by itself: first after OnBootSec, then every OnUnitActiveSec (short times given by the test, not the shipped ones)', () => {
    const runs = '/run/reconciler-runs';
    const result = install({ name: 'reconciler-fires', onBootSec: '1s', interval: '2s', runs });
    expect(result.status, result.message).toBe('committed');
    expect(show('reconciler-fires.timer', 'TimersMonotonic')).toMatch(/OnBootUSec=1s\b/);
    expect(show('reconciler-fires.timer', 'TimersMonotonic')).toMatch(/OnUnitActiveUSec=2s\b/);
    // Nobody starts the service here: only the timer does.
    const count = () => machine.run(['sh', '-c', `cat ${runs} 2>/dev/null | wc -l`]).stdout.trim();
    for (let i = 0; i < 100 && Number(count()) < 2; i++) machine.run(['sleep', '0.2']);
    expect(Number(count()), machine.run(['journalctl', '--no-pager', '-u', 'reconciler-fires.service']).stdout).toBeGreaterThanOrEqual(2);
    expect(show('reconciler-fires.service', 'Result')).toBe('Result=success');
    expect(show('reconciler-fires.timer', 'LastTriggerUSecMonotonic')).not.toBe('LastTriggerUSecMonotonic=0');
    expect(machine.run(['systemctl', 'disable', '--now', 'reconciler-fires.timer']).status).toBe(0);
  }, 120_000);
});
