/**
 * An answer of `systemctl show` that names no LoadState is not a unit's
 * state: the kinds decide from this read what to change and what to put back,
 * so an empty answer must not pass for "not enabled" or "not running". The
 * real manager cannot be made to answer empty on demand (it did once, on a
 * loaded machine), so a command runner gives the answers here.
 */
import { describe, expect, it } from 'vitest';
import type { CommandResult, CommandRunner, CommandSpec } from '@unwind/core';
import { UnitStateError, unitState } from '../src/index.js';

function answering(...stdouts: string[]): { exec: CommandRunner; calls: CommandSpec[] } {
  const calls: CommandSpec[] = [];
  const exec: CommandRunner = async (spec): Promise<CommandResult> => {
    calls.push(spec);
    return { argv: spec.argv, exitCode: 0, signal: null, stdout: stdouts[Math.min(calls.length - 1, stdouts.length - 1)] ?? '', stderr: '', durationMs: 1 };
  };
  return { exec, calls };
}

describe('reading a unit state', () => {
  it('an answer with no LoadState is read again; the next full answer is the state', async () => {
    const fake = answering('', 'LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n');
    expect(await unitState('app.service', undefined, { exec: fake.exec })).toEqual({ loadState: 'loaded', activeState: 'active', subState: 'running', unitFileState: 'enabled' });
    expect(fake.calls).toHaveLength(2);
  });

  it('three answers with no LoadState are refused with UnitStateError, never taken as an empty state', async () => {
    const fake = answering('UnitFileState=\n');
    await expect(unitState('app.service', undefined, { exec: fake.exec })).rejects.toThrow(UnitStateError);
    expect(fake.calls).toHaveLength(3);
  });

  it('a unit systemd does not know is a state (LoadState=not-found), read once', async () => {
    const fake = answering('LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n');
    expect(await unitState('gone.service', undefined, { exec: fake.exec })).toEqual({ loadState: 'not-found', activeState: 'inactive', subState: 'dead', unitFileState: '' });
    expect(fake.calls).toHaveLength(1);
  });
});
