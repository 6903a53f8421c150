// A process that becomes a systemd manager gets a cgroup of its own (cgroup-subtree.ts), inside the
// throw-away machine: real cgroup hierarchies, a real `systemd --user`, a real machine booted in it.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupSubtree, type CgroupSubtree } from '../src/testing/cgroup-subtree.js';
import { bootMachine, MACHINE_STOP_WITHIN_MS, notInsideMachine } from '../src/testing/machine.js';
import { startSandboxManager } from '../src/testing/sandbox-manager.js';
import { temporaryDirectory } from '../src/testing/helpers.js';

const outside = notInsideMachine();
if (outside) throw new Error(`these tests make cgroups and start systemd managers: ${outside}`);

/** Where the unified hierarchy is mounted: beside the v1 ones in a hybrid layout, else alone. */
const UNIFIED = fs.existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
/** A process's cgroup in the unified hierarchy, from its /proc/PID/cgroup. */
const unifiedCgroup = (membership: string) => membership.split('\n').find((l) => l.startsWith('0::'))!.slice(3);

const made: CgroupSubtree[] = [];
afterEach(() => {
  for (const subtree of made.splice(0)) {
    subtree.kill();
    subtree.remove();
  }
});

function subtree(prefix: string): CgroupSubtree {
  const s = cgroupSubtree(prefix);
  if (!s) throw new Error('no writable cgroup hierarchy in the machine');
  made.push(s);
  return s;
}

describe('cgroupSubtree', () => {
  it('makes one cgroup per hierarchy systemd uses; a program started through wrap() runs in it; remove() takes it away', () => {
    const s = subtree('unwind-test-wrap');
    expect(s.directories.length).toBeGreaterThan(0);
    for (const directory of s.directories) expect(fs.statSync(directory).isDirectory()).toBe(true);
    const [program, ...args] = s.wrap(['cat', '/proc/self/cgroup']) as [string, ...string[]];
    const shown = spawnSync(program, args, { encoding: 'utf8' });
    expect(shown.status).toBe(0);
    const name = s.directories[0]!.split('/').pop()!;
    // Every hierarchy systemd reads (the unified one: "0::", a hybrid layout's "name=systemd") names the new cgroup.
    const lines = shown.stdout.split('\n').filter((l) => l.startsWith('0::') || l.includes(':name=systemd:'));
    expect(lines.length).toBe(s.directories.length);
    for (const line of lines) expect(line.endsWith(`/${name}`)).toBe(true);
    expect(s.remove()).toEqual([]);
    for (const directory of s.directories) expect(fs.existsSync(directory)).toBe(false);
  });

  it('kill() ends what still runs in it, so remove() can take it away', async () => {
    const s = subtree('unwind-test-kill');
    const [program, ...args] = s.wrap(['sleep', '600']) as [string, ...string[]];
    const child = spawn(program, args, { stdio: 'ignore' });
    const ended = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    // In it once its cgroup.procs lists it (the wrapper moves itself in before it runs sleep).
    const listed = () => fs.readFileSync(join(s.directories[0]!, 'cgroup.procs'), 'utf8').split('\n').includes(String(child.pid));
    for (let waited = 0; !listed() && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(listed()).toBe(true);
    expect(s.remove().length).toBeGreaterThan(0); // not while sleep runs in it
    expect(s.kill()).toBe(1);
    expect(await ended).toBe('SIGKILL');
    expect(s.remove()).toEqual([]);
  });

  it("a sandbox user manager that exits leaves the machine's other empty cgroups alone (it removed them all when it shared the caller's)", async () => {
    // An empty cgroup beside it, as a unit's is for a moment before its process moves in.
    const beside = subtree('unwind-test-beside');
    const place = temporaryDirectory('unwind-cgroup-manager-');
    try {
      const manager = await startSandboxManager({ home: join(place.path, 'home'), runtimeDir: join(place.path, 'run') });
      const cgroup = fs.readFileSync(`/proc/${manager.pid}/cgroup`, 'utf8');
      expect(cgroup).toMatch(/\/unwind-user-manager-[0-9a-f]+\/init\.scope$/m);
      await manager.stop();
      for (const directory of beside.directories) expect(fs.existsSync(directory), directory).toBe(true);
      // Its own cgroup went with it.
      expect(fs.existsSync(join(UNIFIED, unifiedCgroup(cgroup).replace(/\/init\.scope$/, '')))).toBe(false);
    } finally {
      place.remove();
    }
  }, 60_000);

  it("a unit stopped here leaves alone the unit of the same name in a machine booted here (they shared a cgroup, and the stop killed both)", async () => {
    const machine = await bootMachine();
    const unit = `unwind-test-twin-${Math.random().toString(16).slice(2, 10)}.service`;
    try {
      const inner = machine.run(['systemd-run', `--unit=${unit}`, '--', 'sleep', '600']);
      expect(inner.status, inner.stderr).toBe(0);
      const here = spawnSync('systemd-run', [`--unit=${unit}`, '--', 'sleep', '600'], { encoding: 'utf8' });
      expect(here.status, here.stderr).toBe(0);
      expect(spawnSync('systemctl', ['stop', '--', unit], { encoding: 'utf8' }).status).toBe(0);
      // The stop's kill of what is left in its cgroup reaches whatever shares that cgroup.
      await new Promise((r) => setTimeout(r, 500));
      expect(machine.run(['systemctl', 'is-active', '--', unit]).stdout.trim()).toBe('active');
    } finally {
      spawnSync('systemctl', ['stop', '--', unit]);
      await machine.stop();
    }
  }, 60_000 + MACHINE_STOP_WITHIN_MS);

  it("a machine booted here runs its system manager in a cgroup of its own, removed when it stops", async () => {
    const machine = await bootMachine();
    let own = '';
    try {
      own = unifiedCgroup(fs.readFileSync(`/proc/${machine.pid}/cgroup`, 'utf8'));
      expect(own).toMatch(/\/unwind-machine-[0-9a-f]+\/init\.scope$/);
      // Inside, its units' cgroups are under that one, never beside this machine's own.
      expect(machine.run(['cat', '/proc/1/cgroup']).stdout).toMatch(/^0::\/init\.scope$/m);
    } finally {
      await machine.stop();
    }
    expect(fs.existsSync(join(UNIFIED, own.replace(/\/init\.scope$/, '')))).toBe(false);
  }, 60_000 + MACHINE_STOP_WITHIN_MS);
});
