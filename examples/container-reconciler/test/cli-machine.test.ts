// The reconciler's command line as its user runs it, inside a throw-away
// machine (systemd as PID 1, real logind, linger, user@UID.service, the
// machine's own /etc): the desired state in quadlet-deploy's layout, in a git
// repository the run fetches; Quadlet files with a transform sub-directory;
// the managed group and a separate privilege group; the reconciler's own
// service and timer. There is no podman with Quadlet here (Debian 12 ships
// podman 4.3, which has no Quadlet generator): a test generator stands in
// (stand-in/test-quadlet-generator.sh), installed in the machine only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootMachine, cannotBootMachine, type Machine } from '@unwind/core/testing';
import { GENERATOR_PATH, REPOSITORY, TRANSFORMS, container, inMachine, main, repoRoot, syncOptions } from './machine-desired.js';

const STATE = '/var/lib/container-reconciler';

let machine: Machine;
let m: ReturnType<typeof inMachine>;
beforeAll(async () => {
  const reason = cannotBootMachine();
  if (reason) throw new Error(`the throw-away machine cannot boot here: ${reason}`);
  machine = await bootMachine({ bind: [repoRoot] });
  m = inMachine(machine);
  m.setUp();
}, 120_000);
afterAll(async () => machine?.stop());

const ok = (argv: string[], cwd?: string) => m.ok(argv, cwd);
const write = (path: string, content: string) => m.write(path, content);
const commit = (files: Record<string, string | null>) => m.commit(files);
function sync(...extra: string[]) {
  const r = machine.run(['node', '--import', 'tsx', main, ...syncOptions(STATE), ...extra], { cwd: repoRoot, timeoutMs: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const userctl = (user: string, ...args: string[]) => m.userctl(user, ...args);
const exists = (user: string) => m.exists(user);

/**
 * Stops a lingering user's manager and brings it back the way a boot does: logind lets the user
 * go (`loginctl terminate-user`), then starts the manager again for the linger file. Not
 * `systemctl restart user@UID.service`: while the manager is down for the restart, logind may
 * collect the lingering user (none of its units active) and stop the new manager seconds later.
 * An enable-linger sent while logind still drops the user is lost: it is sent again.
 */
function bringBackAsBootDoes(user: string) {
  const pause = () => machine.run(['sleep', '0.2']);
  ok(['loginctl', 'terminate-user', user]);
  for (let i = 0; i < 300 && machine.run(['loginctl', 'show-user', user]).status === 0; i++) pause();
  expect(machine.run(['loginctl', 'show-user', user]).status, `logind still tracks ${user} after terminate-user`).not.toBe(0);
  let active = '';
  for (let attempt = 0; attempt < 5 && active !== 'active'; attempt++) {
    ok(['loginctl', 'enable-linger', user]);
    for (let i = 0; i < 50 && active !== 'active'; i++) {
      active = userctl(user, 'is-active', `${user}.service`);
      if (active !== 'active') pause();
    }
  }
  expect(active).toBe('active');
}

describe('container-reconciler sync: a git repository of Quadlet files, in a throw-away machine', () => {
  it('no Quadlet generator (podman < 4.4): refused with exit 4 naming it, before anything is touched', () => {
    expect(machine.run(['test', '-e', GENERATOR_PATH]).status).not.toBe(0);
    commit({ 'web.container': container('web') });
    const r = sync();
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toContain('Quadlet needs podman 4.4 or later (Debian 12 ships 4.3)');
    expect(r.stdout).toContain('Nothing was changed');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(exists('web')).toBe(false);
  });

  it('a Quadlet file Quadlet would reject (no Image=): refused with exit 4 before anything is touched', () => {
    m.installGenerator();
    commit({ 'web.container': container('web').replace('Image=docker.io/library/nginx:1.27\n', '') });
    const r = sync();
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toContain('web.container: no Image= (or Rootfs=) in [Container]');
    expect(exists('web')).toBe(false);
  });

  it('deploys each container to its own user: files in ~/.config/containers/systemd (a transform merged), generated units active, both groups; they come back when the manager is stopped and started as at boot', () => {
    commit({ 'web.container': container('web', 'Volume=web.volume:/data\n'), 'web.volume': '[Volume]\n', 'tailnet/api.container': '[Container]\nImage=docker.io/library/api:1\nExec=/bin/sleep infinity\n' });
    const r = sync();
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/created +api: created/);
    expect(r.stdout).toMatch(/created +web: created/);
    for (const user of ['web', 'api']) {
      expect(machine.run(['getent', 'passwd', user]).stdout.split(':')[4]).toBe('unwind-container');
      expect(ok(['id', '-nG', user]).split(' ').sort()).toEqual(['mint-key', 'unwind-containers', user].sort());
      expect(userctl(user, 'is-active', `${user}.service`)).toBe('active');
    }
    expect(ok(['stat', '-c', '%a %U', '/home/api/.config/containers/systemd/api.container'])).toBe('644 api');
    expect(ok(['cat', '/home/api/.config/containers/systemd/api.container'])).toBe('[Container]\nLabel=tailnet=yes\nImage=docker.io/library/api:1\nExec=/bin/sleep infinity\nNetwork=none\n\n[Install]\nWantedBy=default.target');
    expect(userctl('web', 'show', '-p', 'SourcePath', 'web.service')).toBe('SourcePath=/home/web/.config/containers/systemd/web.container');
    expect(userctl('web', 'show', '-p', 'LoadState', 'web-volume.service')).toBe('LoadState=loaded');
    // Enabled through [Install] (a .wants link in the generator's output): a manager brought back as
    // a boot brings it back starts it again.
    bringBackAsBootDoes('web');
    expect(userctl('web', 'is-active', 'web.service')).toBe('active');
    const again = sync();
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(/unchanged +api/);
    expect(again.stdout).toMatch(/unchanged +web/);
  });

  it('the generator rejects a file: that container is rolled back with the generator\'s message (exit 1), the file as it was, its unit still running', () => {
    const before = ok(['sha256sum', '/home/api/.config/containers/systemd/api.container']);
    commit({ 'tailnet/api.container': '[Container]\nImage=docker.io/library/api:2\nExec=/bin/sleep infinity\nNotAQuadletKey=1\n' });
    const r = sync();
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toMatch(/failed +api: update failed at step \d+ .*rolled back/);
    expect(r.stdout).toContain("unsupported key 'NotAQuadletKey' in group 'Container'");
    expect(r.stdout).toMatch(/unchanged +web/);
    expect(ok(['sha256sum', '/home/api/.config/containers/systemd/api.container'])).toBe(before);
    expect(userctl('api', 'is-active', 'api.service')).toBe('active');
    expect(userctl('api', 'show', '-p', 'LoadState', 'api.service')).toBe('LoadState=loaded');
  });

  it('a container gone from the repository: stopped, its files and user removed; a human in the privilege group is never touched', () => {
    ok(['useradd', '-m', '-G', 'mint-key', 'alice']);
    commit({ 'tailnet/api.container': null });
    const started = Date.now();
    const r = sync();
    expect(r.code, `${r.stdout}\n${r.stderr}\n${Date.now() - started} ms`).toBe(0);
    expect(r.stdout).toMatch(/removed +api/);
    expect(exists('api')).toBe(false);
    expect(machine.run(['test', '-e', '/home/api']).status).not.toBe(0);
    expect(ok(['id', '-nG', 'alice']).split(' ')).toContain('mint-key');
    expect(userctl('web', 'is-active', 'web.service')).toBe('active');
  }, 300_000);

  it('a sudoers rule that gives the managed group a privilege: refused with exit 4, nothing changed', () => {
    write('/etc/sudoers.d/mint', '%unwind-containers ALL=(root) NOPASSWD: /usr/local/bin/mint-key\n');
    try {
      const r = sync();
      expect(r.code, r.stdout).toBe(4);
      expect(r.stdout).toContain('sudoers grants the managed group "%unwind-containers" a privilege (/etc/sudoers.d/mint:1)');
    } finally {
      ok(['rm', '-f', '/etc/sudoers.d/mint']);
    }
  });

  it('install-units: its own service and timer in the system manager; the service runs the same sync, after logind', () => {
    const r = machine.run(['node', '--import', 'tsx', main, 'install-units', '--on-boot', '1h', '--repository', REPOSITORY, '--state', STATE, '--transforms', TRANSFORMS, '--privilege-group', 'mint-key', '--settle', '300'], { cwd: repoRoot, timeoutMs: 180_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(ok(['systemctl', 'is-enabled', 'container-reconciler.timer'])).toBe('enabled');
    expect(ok(['systemctl', 'show', '-p', 'After', 'container-reconciler.service'])).toMatch(/systemd-logind\.service/);
    commit({ 'cache.container': container('cache') });
    const started = machine.run(['systemctl', 'start', 'container-reconciler.service']);
    expect(started.status, machine.run(['journalctl', '--no-pager', '-u', 'container-reconciler.service']).stdout).toBe(0);
    expect(ok(['systemctl', 'show', '-p', 'Result', 'container-reconciler.service'])).toBe('Result=success');
    expect(userctl('cache', 'is-active', 'cache.service')).toBe('active');
  });
});

describe('container-reconciler: errors are plain words and exit codes, never a stack trace', () => {
  it('a bad command line: exit 4; an unreadable repository: exit 1, nothing changed', () => {
    const usage = machine.run(['node', '--import', 'tsx', main, '--state', STATE, '--timeout', 'soon', '--desired', '/srv'], { cwd: repoRoot });
    expect(usage.status).toBe(4);
    expect(usage.stderr).toContain('--timeout needs a whole number of milliseconds');
    const fetch = machine.run(['node', '--import', 'tsx', main, '--repository', '/srv/no-such.git', '--state', '/var/lib/cr-other'], { cwd: repoRoot, timeoutMs: 120_000 });
    expect(fetch.status, fetch.stderr).toBe(1);
    expect(fetch.stderr).toContain('fetching the desired state from /srv/no-such.git failed (rolled-back); no container was touched');
    for (const r of [usage, fetch]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
