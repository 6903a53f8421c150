/**
 * removeUser on the real user database of the test run's throw-away machine
 * (systemd as PID 1, real logind): a user with a live login session, running
 * processes, lingering and a running user@UID.service. The manager is stopped
 * first, every process ends, linger goes with the user; a rollback puts the
 * user and its linger file back. Each test removes its user whatever happened.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { commandOutput as sh, enableLingerSettled, failingStep, machineUser, notInsideMachine, runSteps, settledLinger, testContext, waitFor } from '@unwind/core/testing';
import { processesOf as processesOfUser, removeUser, stopUserProcesses } from '../src/index.js';

const outside = notInsideMachine();
if (outside) throw new Error(`these tests add and remove users of the machine they run on: ${outside}`);

const run = (...steps: Parameters<typeof runSteps>[1][]) => runSteps('logind scenario', ...steps);

/** Pids of the processes owned by `uid` in this machine (this PID namespace: a nested machine's are another test's). */
function processesOf(uid: number): number[] {
  const own = fs.readlinkSync('/proc/self/ns/pid');
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return fs.statSync(`/proc/${entry}`).uid === uid && fs.readlinkSync(`/proc/${entry}/ns/pid`) === own;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The ids of the user's logind sessions ('' when none, or when logind no longer knows the user). */
function sessionsOf(name: string): string {
  return sh(['loginctl', 'show-user', '-p', 'Sessions', '--value', name], [0, 1]);
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A machine user with linger on, a running user manager, and a live login session running `sleep`. */
async function loggedInUser() {
  const { name, uid, remove } = machineUser('uwlg');
  cleanups.push(remove);
  enableLingerSettled({ name, uid });
  sh(['systemctl', '--user', `--machine=${name}@`, 'is-system-running', '--wait'], [0, 1]);
  // A real PAM login (pam_systemd registers the session with logind), left running.
  const login = spawn('runuser', ['-l', name, '-c', 'sleep 1000'], { stdio: 'ignore', detached: true });
  login.unref();
  await waitFor(`a logind session of ${name}`, () => sessionsOf(name) !== '');
  return { name, uid };
}

describe('removeUser with a live logind session (real logind, user@UID.service, linger)', () => {
  it('stops the manager first, ends every process and the session, removes the user and its linger; nothing of the uid is left', async () => {
    const { name, uid } = await loggedInUser();
    expect(sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3])).toBe('active');
    expect(processesOf(uid).length).toBeGreaterThan(0);
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(true);

    const outcome = await run(removeUser({ name, removeHome: true, graceMs: 1000 }));
    expect(outcome.status, JSON.stringify(outcome.steps[0]?.error)).toBe('committed');
    expect(sh(['getent', 'passwd', name], [0, 2])).toBe('');
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(false);
    expect(sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3])).not.toBe('active');
    await waitFor(`every process of uid ${uid} to end`, () => processesOf(uid).length === 0, 5000);
    await waitFor(`the session of ${name} to close`, () => sessionsOf(name) === '', 5000);
  });

  it('a rollback puts the user and its linger back, in logind too: lingering again, its manager running', async () => {
    const { name, uid } = await loggedInUser();
    const passwdLine = sh(['getent', 'passwd', name]);
    const outcome = await run(removeUser({ name, graceMs: 1000 }), failingStep({ message: 'a later step fails' }));
    expect(outcome.status).toBe('rolled-back');
    expect(sh(['getent', 'passwd', name])).toBe(passwdLine);
    expect(Number(sh(['id', '-u', name]))).toBe(uid);
    // The linger file alone is not linger: logind reads it only at boot or when told. The undo tells it,
    // so the manager the step stopped runs again now, not after the next boot.
    expect(await settledLinger({ name, uid })).toEqual({ file: true, logind: 'yes', manager: 'active' });
  });

  it("a container's process of the same numeric uid (its own PID namespace and root) is not this user's: never counted, never signalled, and the user is removed", async () => {
    const { name, uid, remove } = machineUser('uwns');
    cleanups.push(remove);
    const asUser = `setpriv --reuid=${uid} --regid=${uid} --clear-groups sleep 1000`;
    const mine = spawn('sh', ['-c', `exec ${asUser}`], { stdio: 'ignore' });
    // A container as podman or docker makes one: a PID namespace whose init (root) runs a process of
    // that uid, chrooted into an overlay of / (userdel, too, leaves processes under another root alone).
    const script = [
      'set -e',
      'd=$(mktemp -d)',
      'mount -t tmpfs tmpfs "$d"',
      'mkdir "$d/upper" "$d/work" "$d/root"',
      'mount -t overlay overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" "$d/root"',
      'mount -t proc proc "$d/root/proc"',
      'mount --bind /dev "$d/root/dev"',
      `exec chroot "$d/root" sh -c '${asUser} & wait'`,
    ].join('\n');
    const container = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: 'ignore' });
    cleanups.push(() => container.kill('SIGKILL'));
    const own = fs.readlinkSync('/proc/self/ns/pid');
    const containers = () =>
      fs.readdirSync('/proc').filter((entry) => {
        try {
          return /^\d+$/.test(entry) && fs.statSync(`/proc/${entry}`).uid === uid && fs.readlinkSync(`/proc/${entry}/ns/pid`) !== own && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${entry}/status`, 'utf8'));
        } catch {
          return false;
        }
      });
    await waitFor("the container's process of the uid, and this machine's", () => containers().length === 1 && processesOf(uid).length === 1);
    const [inContainer] = containers();
    expect(processesOfUser(uid)).toEqual([mine.pid]);

    const ended = new Promise<NodeJS.Signals | null>((resolve) => mine.on('exit', (_code, signal) => resolve(signal)));
    const outcome = await run(removeUser({ name, removeHome: true, graceMs: 1000 }));
    expect(outcome.status, JSON.stringify(outcome.steps[0]?.error)).toBe('committed');
    expect(await ended).toBe('SIGTERM');
    expect(sh(['getent', 'passwd', name], [0, 2])).toBe('');
    expect(containers()).toEqual([inContainer]);
  });

  it("the user's own sandbox (a user and a PID namespace she made: unshare -Urpf): its process is ended too (pkill does not reach it), the user removed, nothing of the uid left", async () => {
    const { name, uid, remove } = machineUser('uwsb');
    cleanups.push(remove);
    // As the user: her own user namespace (she is root in it), a PID and a mount namespace, /proc of its own.
    const sandbox = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount-proc', 'sleep', '1000'], { stdio: 'ignore' });
    cleanups.push(() => sandbox.kill('SIGKILL'));
    const ownPid = fs.readlinkSync('/proc/self/ns/pid');
    const ownUser = fs.readlinkSync('/proc/self/ns/user');
    const sandboxed = () =>
      fs.readdirSync('/proc').filter((entry) => {
        try {
          return /^\d+$/.test(entry) && fs.statSync(`/proc/${entry}`).uid === uid && fs.readlinkSync(`/proc/${entry}/ns/pid`) !== ownPid && fs.readlinkSync(`/proc/${entry}/ns/user`) !== ownUser && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${entry}/status`, 'utf8'));
        } catch {
          return false;
        }
      });
    await waitFor("the sandbox's process of the uid", () => sandboxed().length === 1);
    // This machine's view of her processes (what pkill reaches) does not show it.
    expect(processesOfUser(uid)).not.toContain(Number(sandboxed()[0]));

    const outcome = await run(removeUser({ name, graceMs: 1000 }));
    expect(outcome.status, JSON.stringify(outcome.steps[0]?.error)).toBe('committed');
    expect(sandboxed()).toEqual([]);
    expect(sh(['getent', 'passwd', name], [0, 2])).toBe('');
  });

  it("a root-made container with its own user namespace that maps the uid among others (LXD's raw.idmap, nspawn -U) is not her sandbox: left running; her own sandbox is ended (stopUserProcesses)", async () => {
    const { name, uid, remove } = machineUser('uwct');
    cleanups.push(remove);
    const sleeper = (...prefix: string[]) => spawn(prefix[0]!, [...prefix.slice(1), 'sleep', '1000'], { stdio: 'ignore' });
    // Hers: a user namespace she made maps her uid alone.
    const sandbox = sleeper('setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'unshare', '--user', '--map-root-user', '--pid', '--fork', '--kill-child', '--mount-proc');
    cleanups.push(() => sandbox.kill('SIGKILL'));
    // Root's: root itself and a hundred ids around hers, its process running as the one that is her uid
    // outside. Root writes the maps itself (as a container runtime does); the process waits for them, then
    // becomes id 10.
    const base = uid - 10;
    const wait = 'while [ -z "$(cat /proc/self/uid_map)" ]; do sleep 0.05; done; exec setpriv --reuid=10 --regid=10 --clear-groups sleep 1000';
    const container = spawn('unshare', ['--user', '--pid', '--fork', '--kill-child', '--mount-proc', 'sh', '-c', wait], { stdio: 'ignore' });
    // Before the user is removed (cleanups run last first): its process gone, so userdel does not find it busy.
    cleanups.push(() => {
      container.kill('SIGKILL');
      // Its sleeper changed credentials, which clears the parent-death signal: killed by pid.
      for (const pid of elsewhere()) process.kill(Number(pid), 'SIGKILL');
      const until = Date.now() + 5000;
      while (Date.now() < until && elsewhere().length > 0) spawnSync('sleep', ['0.05']);
    });
    const ownUser = fs.readlinkSync('/proc/self/ns/user');
    await waitFor('the container\'s user namespace', () => fs.readlinkSync(`/proc/${container.pid}/ns/user`) !== ownUser);
    fs.writeFileSync(`/proc/${container.pid}/uid_map`, `0 0 1\n1 ${base + 1} 99\n`);
    fs.writeFileSync(`/proc/${container.pid}/gid_map`, `0 0 1\n1 ${base + 1} 99\n`);
    const ownPid = fs.readlinkSync('/proc/self/ns/pid');
    const elsewhere = () =>
      fs.readdirSync('/proc').filter((entry) => {
        try {
          return /^\d+$/.test(entry) && fs.statSync(`/proc/${entry}`).uid === uid && fs.readlinkSync(`/proc/${entry}/ns/pid`) !== ownPid && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${entry}/status`, 'utf8'));
        } catch {
          return false;
        }
      });
    await waitFor('the sandbox and the container process of the uid', () => elsewhere().length === 2);
    const inContainer = elsewhere().find((entry) => fs.readFileSync(`/proc/${entry}/uid_map`, 'utf8').trim().split('\n').length === 2);
    expect(inContainer).toBeDefined();

    const { ctx, dispose } = testContext();
    try {
      await stopUserProcesses(ctx, name, uid, { graceMs: 500, manager: false });
    } finally {
      dispose();
    }
    expect(elsewhere()).toEqual([inContainer]);
  });
});
