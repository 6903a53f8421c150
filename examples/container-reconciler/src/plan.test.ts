import { describe, expect, it } from 'vitest';
import { deploySteps, removalSteps, settings } from './reconciler.js';

const container = { name: 'web', kind: 'unit' as const, unit: 'web.service', content: '[Service]\nExecStart=/bin/true\n', quadlet: [], source: '/d/web.service' };
const argsOf = (step: { args: unknown }) => (typeof step.args === 'function' ? (step.args as (get: () => unknown) => unknown)(() => ({ home: '/srv/containers/web' })) : step.args);

describe('the per-user deployment (the real machine)', () => {
  it('deploys to the user\'s own manager, the unit in the home the user database gives', () => {
    const config = { desiredDir: '/d', stateDir: '/s', commandTimeoutMs: 5000 };
    const steps = deploySteps(container, settings(config), config);
    expect(steps.map((s) => s.kind.type)).toEqual(['users.ensureGroup', 'users.ensureUser', 'users.addToGroup', 'linger.enable', 'systemd.startUserManager', 'systemd.restartOnRollback', 'systemd.installUnit', 'systemd.restart']);
    expect(argsOf(steps[1]!)).toMatchObject({ name: 'web', comment: 'unwind-container', commandTimeoutMs: 5000 });
    expect(argsOf(steps[2]!)).toMatchObject({ user: 'web', group: 'unwind-containers' });
    expect(argsOf(steps[5]!)).toMatchObject({ unit: 'web.service', scope: { user: 'web' } });
    expect(argsOf(steps[6]!)).toMatchObject({ unit: 'web.service', scope: { user: 'web' }, unitDir: '/srv/containers/web/.config/systemd/user', commandTimeoutMs: 5000 });
    expect(argsOf(steps[7]!)).toMatchObject({ unit: 'web.service', scope: { user: 'web' } });
  });

  it('a Quadlet container: the privilege group too, the files into ~/.config/containers/systemd, each generated unit checked, a file no longer desired removed', () => {
    const content = '[Container]\nImage=nginx\n';
    const quadlet = { ...container, kind: 'quadlet' as const, content, quadlet: [{ file: 'web.container', content }] };
    const config = { desiredDir: '/d', stateDir: '/s', privilegeGroup: 'mint-key' };
    const deployed = { name: 'web', uid: 1001, gid: 1001, home: '/srv/containers/web', comment: 'unwind-container', inGroup: true, unitPath: '', unitContent: null, quadlet: { 'web.container': content, 'web.volume': '[Volume]\n' }, quadletDir: '/srv/containers/web/.config/containers/systemd' };
    const steps = deploySteps(quadlet, settings(config), config, deployed);
    expect(steps.map((s) => s.kind.type)).toEqual([
      'users.ensureGroup', 'users.ensureUser', 'users.addToGroup', 'users.ensureGroup', 'users.addToGroup', 'linger.enable', 'systemd.startUserManager',
      'systemd.restartOnRollback',
      'containers.removeUnitFile',
      'containers.quadletGenerated', 'systemd.daemonReload', 'files.ensureDir', 'files.ensureDir', 'files.ensureDir', 'files.writeFile', 'systemd.daemonReload', 'containers.quadletGenerated',
      'systemd.restart',
    ]);
    expect(argsOf(steps[4]!)).toMatchObject({ user: 'web', group: 'mint-key' });
    expect(argsOf(steps[8]!)).toMatchObject({ path: '/srv/containers/web/.config/containers/systemd/web.volume', manager: { scope: { user: 'web' } } });
    const user = () => ({ uid: 1001, gid: 1001, home: '/srv/containers/web' });
    const resolved = (step: { args: unknown }) => (typeof step.args === 'function' ? (step.args as (get: () => unknown) => unknown)(user) : step.args);
    expect(resolved(steps[14]!)).toMatchObject({ path: '/srv/containers/web/.config/containers/systemd/web.container', content, mode: 0o644, uid: 1001, gid: 1001 });
    expect(resolved(steps[16]!)).toMatchObject({ user: 'web', file: '/srv/containers/web/.config/containers/systemd/web.container' });
  });

  it('with a prefix root, the unit directory is under the prefix', () => {
    const config = { desiredDir: '/d', stateDir: '/s', prefix: '/sandbox' };
    expect(argsOf(deploySteps(container, settings(config), config)[6]!)).toMatchObject({ unitDir: '/sandbox/srv/containers/web/.config/systemd/user' });
  });

  it('removal stops and removes the unit, turns linger off, removes the user and its home (processes stopped on the real machine only)', () => {
    const account = { name: 'old', uid: 1005, gid: 1005, home: '/srv/containers/old', comment: 'unwind-container', inGroup: true, unitPath: '/srv/containers/old/.config/systemd/user/old.service', unitContent: 'X', quadlet: {}, quadletDir: '/srv/containers/old/.config/containers/systemd' };
    const machine = removalSteps(account, settings({ desiredDir: '/d', stateDir: '/s' }));
    expect(machine.map((s) => s.kind.type)).toEqual(['systemd.stop', 'containers.removeUnitFile', 'linger.disable', 'users.removeUser']);
    expect(argsOf(machine[3]!)).toMatchObject({ name: 'old', removeHome: true });
    expect(argsOf(machine[3]!)).not.toHaveProperty('stopProcesses');
    const sandboxed = removalSteps({ ...account, unitContent: null }, settings({ desiredDir: '/d', stateDir: '/s', prefix: '/p' }));
    expect(sandboxed.map((s) => s.kind.type)).toEqual(['linger.disable', 'users.removeUser']);
    expect(argsOf(sandboxed[1]!)).toMatchObject({ prefix: '/p', stopProcesses: false });
  });
});
