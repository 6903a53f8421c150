// install.sh and the Python uninstaller as they run on a real machine: the
// system manager, /etc, useradd without a prefix — inside a throw-away machine
// (systemd as PID 1 on an overlay of / that vanishes with it), never on the
// machine running the tests.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, MACHINE_STOP_WITHIN_MS, type Machine } from '@unwind/core/testing';
import { UNWIND, repoRoot, runProgram } from './sandbox.js';

const INSTALL = join(repoRoot, 'examples/apply-shell/install.sh');
const UNINSTALL = join(repoRoot, 'examples/apply-python/uninstall.py');
const NAME = 'hello';
const JOURNAL_ROOT = `/var/lib/${NAME}-installer`;

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
}, MACHINE_STOP_WITHIN_MS);

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

type JournalRecord = { kind: string; step?: number };

/** The transactions under the machine's journal root, read from the host through its PID 1's root. */
function machineTransactions(): string[] {
  const root = `/proc/${machine.pid}/root${JOURNAL_ROOT}`;
  return fs.existsSync(root) ? fs.readdirSync(root).filter((id) => fs.existsSync(join(root, id, 'journal.jsonl'))) : [];
}

/** The journal records of the transactions not in `earlier`. */
function newRecords(earlier: ReadonlySet<string>): JournalRecord[] {
  const records: JournalRecord[] = [];
  for (const id of machineTransactions().filter((id) => !earlier.has(id))) {
    for (const line of fs.readFileSync(`/proc/${machine.pid}/root${JOURNAL_ROOT}/${id}/journal.jsonl`, 'utf8').split('\n')) {
      try {
        records.push(JSON.parse(line.slice(line.indexOf(' ') + 1)) as JournalRecord);
      } catch {
        // a line being written (torn): not a record yet
      }
    }
  }
  return records;
}

/** Where install.sh is SIGKILLed: after the journal's first records (the account and files steps), and as systemd.enable (step 6) and systemd.start (step 7) begin. */
const KILL_POINTS: Array<{ where: string; when: (records: JournalRecord[]) => boolean }> = [
  { where: 'in the files steps (6 records journaled)', when: (records) => records.length >= 6 },
  { where: 'as systemd.enable begins', when: (records) => records.some((r) => r.kind === 'prepared' && r.step === 5) },
  { where: 'as systemd.start begins', when: (records) => records.some((r) => r.kind === 'prepared' && r.step === 6) },
];

describe('install.sh and uninstall.py in a throw-away machine (a real system manager, the real /etc)', () => {
  it('install.sh SIGKILLed (the script and unwind) at three points, then `unwind recover`: the machine as before each time', async () => {
    const before = machineState();
    expect(before.account).toMatch(/^2:/);
    for (const point of KILL_POINTS) {
      const earlier = new Set(machineTransactions());
      const command = machine.commandLine(['sh', INSTALL, NAME], { cwd: repoRoot, env: env() });
      const killed = await runProgram(command, process.env, { killWhen: () => point.when(newRecords(earlier)) });
      expect(killed.signal, `${point.where}: ${killed.stderr}`).toBe('SIGKILL');
      // Killed before the commit point, so recovery rolls back (after it, it would roll forward).
      const journaled = newRecords(earlier);
      expect(journaled.map((r) => r.kind), point.where).not.toContain('commit-point');
      expect(machineState(), `${point.where}: some change was made before the kill`).not.toEqual(before);
      const recovered = machine.run([UNWIND, 'recover', '--root', JOURNAL_ROOT], { cwd: repoRoot, timeoutMs: 120_000 });
      expect(recovered.status, `${point.where}: ${recovered.stderr}${recovered.stdout}`).toBe(0);
      expect(recovered.stdout).toContain('Rolled back');
      expect(machineState(), `${point.where}: recover put everything back`).toEqual(before);
    }
  }, 600_000);

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
