/**
 * The linger steps against real `loginctl` and systemd-logind in the test
 * run's throw-away machine (systemd as PID 1): linger starts the user's
 * manager, a rollback takes it away again, and the conformance suite runs on
 * the real thing. Each test removes its user whatever happened.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { commandOutput as sh, conformanceSuite, failingStep, machineUser, notInsideMachine, runSteps, settled, type MachineUser } from '@unwind/core/testing';
import { disableLinger, enableLinger, isLingering } from '../src/index.js';

const outside = notInsideMachine();
if (outside) throw new Error(`these tests add and remove users of the machine they run on: ${outside}`);

const run = (...steps: Parameters<typeof runSteps>[1][]) => runSteps('linger scenario', ...steps);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A fresh user of the machine, removed (with its linger and manager) after the test. */
function lingerUser(): MachineUser {
  const user = machineUser('uwli');
  cleanups.push(user.remove);
  return user;
}

/** What logind says about the user's linger, and whether the linger file exists. */
function lingerState(name: string) {
  return { file: fs.existsSync(`/var/lib/systemd/linger/${name}`), logind: sh(['loginctl', 'show-user', '-p', 'Linger', '--value', name], [0, 1]) };
}

describe('linger through real loginctl and logind', () => {
  it('enableLinger makes logind start the user manager; a rollback turns linger off again', async () => {
    const { name, uid } = lingerUser();
    expect(isLingering(name)).toBe(false);
    const rolled = await run(enableLinger({ user: name }), failingStep({ message: 'a later step fails' }));
    expect(rolled.status).toBe('rolled-back');
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(false);
    // The rollback's disable-linger makes logind stop the manager the enable had started and drop the user;
    // while that is under way logind does not start it again for a new enable (it would at the next boot,
    // from the linger file), so the enable below starts from a user logind no longer tracks.
    const gone = await settled(() => ({ manager: sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3]), logind: lingerState(name).logind }), (s) => s.manager !== 'active' && s.manager !== 'activating' && s.manager !== 'deactivating' && s.logind === '', 60_000);
    expect(gone.logind).toBe('');

    expect((await run(enableLinger({ user: name }))).status).toBe('committed');
    // logind answers for the user once it has taken the new linger flag in (at once, or a moment later on a loaded machine).
    expect(await settled(() => lingerState(name), (state) => state.logind === 'yes', 30_000)).toEqual({ file: true, logind: 'yes' });
    sh(['systemctl', '--user', `--machine=${name}@`, 'is-system-running', '--wait'], [0, 1]);
    expect(sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3])).toBe('active');

    expect((await run(disableLinger({ user: name }))).status).toBe('committed');
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(false);
  }, 180_000);
});

for (const [kind, lingerFirst] of [[enableLinger, false], [disableLinger, true]] as const) {
  conformanceSuite(kind, {
    setup: async () => {
      const { name } = lingerUser();
      if (lingerFirst) sh(['loginctl', 'enable-linger', name]);
      return { args: { user: name }, state: async () => fs.existsSync(`/var/lib/systemd/linger/${name}`), cleanup: async () => {} };
    },
  });
}
