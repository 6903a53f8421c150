// Quadlet units deployed for a user inside a throw-away machine: a real
// systemd system manager as PID 1, real logind, linger and user@UID.service.
// There is no podman here: a test generator stands in for Quadlet's
// (stand-in/test-quadlet-generator.sh), installed in the machine's user
// generator directory only.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, type Machine } from '@unwind/core/testing';

const repoRoot = resolve(import.meta.dirname, '../../..');
const child = join(import.meta.dirname, 'fixtures', 'quadlet-child.ts');
const generator = join(import.meta.dirname, '..', 'stand-in', 'test-quadlet-generator.sh');
const GENERATOR_PATH = '/usr/lib/systemd/user-generators/podman-user-generator';

let machine: Machine;
let user: { user: string; uid: number; gid: number; home: string };
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  machine = await bootMachine({ bind: [repoRoot] });
  expect(machine.run(['useradd', '-m', '-s', '/bin/sh', 'web']).status).toBe(0);
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(machine.run(['id', flag, 'web']).stdout.trim()));
  user = { user: 'web', uid: uid!, gid: gid!, home: '/home/web' };
  // Linger keeps the user's manager running without a login; start it now.
  expect(machine.run(['loginctl', 'enable-linger', 'web']).status).toBe(0);
  expect(machine.run(['systemctl', 'start', `user@${uid}.service`]).status).toBe(0);
}, 120_000);
afterAll(async () => machine?.stop());

function install(name: string, content: string) {
  const config = { ...user, name, content, journalRoot: '/var/lib/unwind-quadlet-test' };
  const r = machine.run(['node', '--import', 'tsx', child, JSON.stringify(config)], { cwd: repoRoot, timeoutMs: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { status: string; message: string; code?: string };
}

function userctl(...args: string[]) {
  const r = machine.run(['systemctl', '--user', '-M', 'web@', ...args]);
  return `${r.stdout.trim()}`;
}

/**
 * A unit's LoadState and ActiveState through the user's manager. The manager
 * names a LoadState for every unit name, so an answer without one (a
 * connection through `-M web@` refused while the manager settles) is read
 * again, never taken for a state.
 */
function unitStateOf(unit: string): string {
  for (let attempt = 1; ; attempt++) {
    const answer = userctl('show', '-p', 'LoadState,ActiveState', unit);
    if (answer.includes('LoadState=')) return answer;
    if (attempt === 20) throw new Error(`systemctl --user -M web@ show ${unit} printed no LoadState, 20 times`);
    machine.run(['sleep', '0.25']);
  }
}

/** What an install touches: the user's Quadlet directory (types, modes, owners, bytes) and the generated units. */
function state(...units: string[]) {
  return {
    files: machine.run(['find', '/home/web/.config', '-printf', '%p %y %m %u %g %s\\n']).stdout,
    hashes: machine.run(['sh', '-c', 'find /home/web/.config -type f -exec sha256sum {} + | sort']).stdout,
    units: units.map(unitStateOf),
  };
}

const CONTAINER = ['[Unit]', 'Description=web', '', '[Container]', 'Image=docker.io/library/nginx:1.27', 'Exec=/bin/sleep infinity', '', '[Install]', 'WantedBy=default.target', ''].join('\n');

describe('Quadlet units for a user, in a throw-away machine', () => {
  it('no Quadlet generator on the host (podman < 4.4): refused with a clear error, nothing changed', () => {
    expect(machine.run(['test', '-e', GENERATOR_PATH]).status).not.toBe(0);
    const before = state('web.service');
    const result = install('web.container', CONTAINER);
    expect(result.status).not.toBe('committed');
    expect(result.code).toBe('QUADLET_UNAVAILABLE');
    expect(result.message).toContain('Quadlet needs podman 4.4 or later (Debian 12 ships 4.3)');
    expect(state('web.service')).toEqual(before);
  });

  it('the generator rejects a file (no Image=): rolled back with the generator\'s message, no unit, the directory as before', () => {
    expect(machine.run(['install', '-m', '755', generator, GENERATOR_PATH]).status).toBe(0);
    const before = state('bad.service');
    const result = install('bad.container', CONTAINER.replace('Image=docker.io/library/nginx:1.27\n', ''));
    expect(result.status, result.message).toBe('rolled-back');
    expect(result.code).toBe('QUADLET_REJECTED');
    expect(result.message).toContain('converting "bad.container": no Image key specified');
    expect(state('bad.service')).toEqual(before);
    expect(userctl('show', '-p', 'LoadState', 'bad.service')).toBe('LoadState=not-found');
  });

  it('a .container is deployed to ~/.config/containers/systemd, its generated .service is loaded, started, and comes back after the user manager restarts', () => {
    const result = install('web.container', CONTAINER);
    expect(result.status, result.message).toBe('committed');
    expect(machine.run(['stat', '-c', '%a %U', '/home/web/.config/containers/systemd/web.container']).stdout.trim()).toBe('644 web');
    expect(userctl('show', '-p', 'SourcePath', 'web.service')).toBe('SourcePath=/home/web/.config/containers/systemd/web.container');
    expect(userctl('is-active', 'web.service')).toBe('active');
    // Enabled through [Install] (a .wants link in the generator's output): a restarted manager starts it again.
    expect(machine.run(['systemctl', 'restart', `user@${user.uid}.service`]).status).toBe(0);
    let active = '';
    for (let i = 0; i < 50 && active !== 'active'; i++) {
      active = userctl('is-active', 'web.service');
      if (active !== 'active') machine.run(['sleep', '0.2']);
    }
    expect(active).toBe('active');
  });
});
