// main.go as it runs on a real machine — the real /etc and /var/lib, as root —
// inside a throw-away machine (systemd as PID 1 on an overlay of / that
// vanishes with it), never on the machine running the tests.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, MACHINE_STOP_WITHIN_MS, type Machine } from '@unwind/core/testing';
import { UNWIND, buildInstaller, killCounter, killPoints, repoRoot } from './helpers.js';

const CONFIG_DIR = '/etc/hello';
const JOURNAL_ROOT = '/var/lib/hello-installer';

let machine: Machine | undefined;
let installer: ReturnType<typeof buildInstaller> | undefined;
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  installer = buildInstaller();
  machine = await bootMachine({ bind: [repoRoot, installer.directory] });
}, 300_000);
afterAll(async () => {
  await machine?.stop();
  installer?.remove();
}, MACHINE_STOP_WITHIN_MS);

function inMachine(argv: string[], env: Record<string, string> = {}) {
  const r = machine!.run(argv, { cwd: repoRoot, env, timeoutMs: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What main.go changes on the machine, as one comparable value. */
function machineState() {
  const find = inMachine(['find', CONFIG_DIR, '-printf', '%p %y %m %u %g %s\\n']);
  return { config: `${find.code}:${find.stdout.trim()}`, etc: inMachine(['stat', '-c', '%a %U %G %h', '/etc']).stdout.trim() };
}

/** A report directory for the kill counter, bound into the machine and outside the roots it counts. */
function reportDirectory(name: string): string {
  const report = join(installer!.directory, name);
  fs.mkdirSync(report);
  return report;
}

describe('examples/apply-go in a throw-away machine (the real /etc, as root)', () => {
  it('installs with its defaults (exit 0); then unwind SIGKILLed after each change, and `unwind recover` leaves the machine as before', () => {
    const before = machineState();
    expect(before.config).toMatch(/^1:/); // no /etc/hello yet

    const countReport = reportDirectory('count');
    const installed = inMachine([installer!.binary], { UNWIND, ...killCounter([CONFIG_DIR, JOURNAL_ROOT], countReport) });
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain('hello is installed.');
    expect(inMachine(['stat', '-c', '%a %U %G', CONFIG_DIR, `${CONFIG_DIR}/hello.conf`, `${CONFIG_DIR}/hello.env`]).stdout.trim().split('\n')).toEqual(['755 root root', '644 root root', '600 root root']);
    expect(inMachine(['cat', `${CONFIG_DIR}/hello.conf`]).stdout).toBe('listen = 127.0.0.1:8080\n');
    expect(inMachine(['rm', '-r', CONFIG_DIR]).code).toBe(0);
    expect(machineState()).toEqual(before);

    const points = killPoints(countReport);
    expect(points.map((p) => p.label.split(' ')[0])).toEqual(['mkdirSync', 'renameSync', 'renameSync']);
    for (const point of points) {
      const report = reportDirectory(`kill-${point.operation}`);
      const killed = inMachine([installer!.binary], { UNWIND, ...killCounter([CONFIG_DIR, JOURNAL_ROOT], report, point.operation) });
      expect(fs.readFileSync(join(report, 'killed.txt'), 'utf8')).toContain(`after operation ${point.operation}`);
      expect(killed.code, `${point.label}: ${killed.stderr}`).toBe(2);
      expect(killed.stderr).toContain(`finish its rollback with \`unwind recover --root ${JOURNAL_ROOT}\``);
      expect(machineState(), point.label).not.toEqual(before);
      const recovered = inMachine([UNWIND, 'recover', '--root', JOURNAL_ROOT]);
      expect(recovered.code, `${point.label}: ${recovered.stderr}${recovered.stdout}`).toBe(0);
      expect(recovered.stdout).toContain('Rolled back');
      expect(machineState(), point.label).toEqual(before);
    }
  }, 600_000);
});
