import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { goneWithin } from '@unwind/core/testing';
import { descendantsOf, signalProcesses, startTimeOf } from '../src/process-tree.js';

/** Process groups to kill after each test (the shell's, and the escaped sleep's own). */
const groups: number[] = [];
afterEach(() => {
  for (const group of groups.splice(0)) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** A shell in its own group that starts `setsid sleep 30` and waits: resolves once the sleep is its child, with both pids. */
async function shellWithEscapedSleep(): Promise<{ shell: number; sleeper: number }> {
  const child = spawn('sh', ['-c', 'setsid sleep 30 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  groups.push(child.pid!);
  const sleeper = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  // setsid made it the leader of a group of its own.
  groups.push(sleeper);
  return { shell: child.pid!, sleeper };
}

describe('process-tree: the descendants a kill must reach', () => {
  it('finds a descendant in another session through its parent', async () => {
    const { shell, sleeper } = await shellWithEscapedSleep();
    const found = descendantsOf([{ pid: shell, start: startTimeOf(shell)! }]);
    expect(found).toContainEqual({ pid: sleeper, start: startTimeOf(sleeper) });
  });

  it('a root or a process whose pid names another process by now (another start time) is neither walked from nor signalled', async () => {
    const { shell, sleeper } = await shellWithEscapedSleep();
    expect(descendantsOf([{ pid: shell, start: 'not-its-start' }])).toEqual([]);
    signalProcesses([{ pid: sleeper, start: 'not-its-start' }], 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    expect(startTimeOf(sleeper)).toBeDefined();
    signalProcesses([{ pid: sleeper, start: startTimeOf(sleeper)! }], 'SIGKILL');
    expect(await goneWithin(sleeper, 5000)).toBe(true);
  });
});
