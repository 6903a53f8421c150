import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandRunner, type CommandSpec } from '@unwind/core';
import { failingStep, requireHere, testKinds } from '@unwind/core/testing';
import { install, targets, type InstallOptions } from '../src/install.js';
import type { Sandbox } from '../src/sandbox.js';
import { expectInstalled, installerState, machineDb, makeSandbox, manager, purgeUnit, skipReason, uniqueName } from './helpers.js';

const skip = skipReason();
/** The program's phases in the sandbox: group, user, linger, config dir, config file, unit file, daemon-reload, enable, start, wait, verify. */
const PHASES = 11;

let machine: Record<string, string>;
beforeAll(() => {
  if (!skip) machine = machineDb();
});
afterAll(() => {
  if (!skip) expect(machineDb()).toEqual(machine);
});

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function fresh(): { sb: Sandbox; name: string } {
  const sb = makeSandbox();
  const name = uniqueName();
  cleanups.push(() => fs.rmSync(sb.root, { recursive: true, force: true }), () => purgeUnit(name));
  return { sb, name };
}

function options(sb: Sandbox, name: string, extra: Partial<InstallOptions> = {}): InstallOptions {
  return { name, prefix: sb.root, lingerDir: sb.lingerDir, loginctl: sb.loginctl, manager: manager(), journalRoot: sb.journalRoot, settleMs: 200, handleSignals: false, extraKinds: testKinds, ...extra };
}

/** A runner that substitutes a failing stub for the `nth` call matching `match` (the stub keeps the real argv, so reports name it). */
function failOn(match: (spec: CommandSpec) => boolean, nth = 1): { exec: CommandRunner; hit: () => boolean } {
  let seen = 0;
  const exec: CommandRunner = (spec) => {
    if (match(spec) && ++seen === nth) return runCommand({ ...spec, argv: ['sh', '-c', 'echo "injected failure: $*" >&2; exit 3', 'sh', ...spec.argv] });
    return runCommand(spec);
  };
  return { exec, hit: () => seen >= nth };
}

describe('service installer in a sandbox (real shadow tools, stub loginctl, real systemd user manager)', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('a clean run commits, and the service is installed exactly as promised', async () => {
    const { sb, name } = fresh();
    const result = await install(options(sb, name));
    expect(result.status, result.message).toBe('committed');
    expect(result.outcome!.steps.map((s) => s.label)).toEqual(['group', 'user', 'linger', 'config directory', 'config file', 'unit file', 'daemon-reload', 'enable', 'start', 'wait until active', 'verify']);
    expect(result.outcome!.steps.every((s) => s.status === 'verified' || s.status === 'committed'), JSON.stringify(result.outcome!.steps.map((s) => s.status))).toBe(true);
    await expectInstalled(sb, name);
    expect(result.message).toContain(`Installed service ${name} in the sandbox ${sb.root}`);
    expect(result.message).toContain(`Done: all ${PHASES} steps applied and verified.`);

    // Running it again changes nothing and still commits.
    const before = await installerState(sb, name);
    const again = await install(options(sb, name));
    expect(again.status, again.message).toBe('committed');
    const after = await installerState(sb, name);
    expect(after).toEqual(before);
  });

  it.each(Array.from({ length: PHASES + 1 }, (_, n) => n))('a failure right after phase %i rolls every earlier phase back, newest first: the sandbox is exactly as before', async (n) => {
    const { sb, name } = fresh();
    const before = await installerState(sb, name);
    const undoOrder: number[] = [];
    const result = await install(options(sb, name, {
      inject: [{ afterStep: n, step: failingStep({ message: `injected after phase ${n}` }) }],
      onEvent: (e) => void (e.type === 'undo:done' && undoOrder.push(e.step)),
    }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(await installerState(sb, name)).toEqual(before);
    // Every phase that ran was undone, newest first (the failed step itself is index n).
    expect(result.outcome!.steps.filter((s) => s.status === 'undone')).toHaveLength(n + 1);
    expect(undoOrder).toEqual(Array.from({ length: n + 1 }, (_, i) => n - i));
    // The person is told what failed, that a rollback ran, and how it ended.
    expect(result.message).toContain(`Installing service ${name} in the sandbox ${sb.root} FAILED, and a rollback ran.`);
    expect(result.message).toContain(`Step ${n + 1} of ${PHASES + 1} failed: fail on purpose (injected after phase ${n})`);
    expect(result.message).toContain(`Rolled back ${n + 1} step`);
    expect(result.message).toContain('Result: rolled back — nothing of the install is left.');
    if (n > 0) expect(result.message).toMatch(/Undone, newest first: [a-z]/);
  });

  const inside: Array<[string, (spec: CommandSpec) => boolean, number, number]> = [
    ['groupadd', (s) => s.argv[0] === 'groupadd', 1, 1],
    ['useradd', (s) => s.argv[0] === 'useradd', 1, 2],
    ['loginctl enable-linger', (s) => s.argv.includes('enable-linger'), 1, 3],
    ["the unit file's daemon-reload", (s) => s.argv.includes('daemon-reload'), 1, 6],
    ['the daemon-reload phase', (s) => s.argv.includes('daemon-reload'), 2, 7],
    ['systemctl enable', (s) => s.argv.includes('enable'), 1, 8],
    ['systemctl start', (s) => s.argv.includes('start'), 1, 9],
    ["the verify phase's look at the main process", (s) => s.argv.includes('MainPID'), 1, 11],
  ];
  it.each(inside)('%s failing inside its phase: rolled back, the sandbox exactly as before', async (_what, match, nth, phase) => {
    const { sb, name } = fresh();
    const before = await installerState(sb, name);
    const { exec, hit } = failOn(match, nth);
    const result = await install(options(sb, name, { exec }));
    expect(hit()).toBe(true);
    expect(result.status, result.message).toBe('rolled-back');
    const failed = result.outcome!.steps.find((s) => s.error);
    expect(failed?.index).toBe(phase - 1);
    expect(result.message).toContain(`Step ${phase} of ${PHASES} failed`);
    expect(result.message).toContain('injected failure');
    expect(await installerState(sb, name)).toEqual(before);
  });

  it('a config the service cannot run with: it dies at once, the start phase fails, everything is rolled back', async () => {
    const { sb, name } = fresh();
    const before = await installerState(sb, name);
    const result = await install(options(sb, name, { config: 'WRONG=1\n' }));
    expect(result.status, result.message).toBe('rolled-back');
    const failed = result.outcome!.steps.find((s) => s.error)!;
    expect(failed.label).toBe('start');
    expect(failed.error?.name).toBe('UnitNotActiveError');
    expect(result.message).toMatch(/is not active after starting/);
    expect(await installerState(sb, name)).toEqual(before);
  });

  it('over an earlier install with another config: a failure puts the old config, user, group and unit back exactly', async () => {
    const { sb, name } = fresh();
    const first = await install(options(sb, name, { config: `GREETING=old\n` }));
    expect(first.status, first.message).toBe('committed');
    const before = await installerState(sb, name);
    const result = await install(options(sb, name, { inject: [{ afterStep: PHASES, step: failingStep({ message: 'late' }) }] }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(await installerState(sb, name)).toEqual(before);
    expect(fs.readFileSync(targets({ name, prefix: sb.root }).configPath, 'utf8')).toBe('GREETING=old\n');
  });
});
