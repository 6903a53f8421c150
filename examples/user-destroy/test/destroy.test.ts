import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listTransactions, runCommand } from '@unwind/core';
import { failingStep, requireHere, testKinds } from '@unwind/core/testing';
import { lookupUser, processesOf } from '@unwind/users';
import { destroyUser, type DestroyOptions } from '../src/destroy.js';
import { APP, destroyCommand, destroyState, expectDestroyed, faultyExec, machineDb, makeSandbox, skipReason, type Fault, type TestSandbox } from './helpers.js';

let machine: Record<string, string>;
beforeAll(() => {
  if (!skipReason) machine = machineDb();
});
afterAll(() => {
  if (!skipReason) expect(machineDb()).toEqual(machine);
});

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sandbox(uid?: number): TestSandbox {
  const sb = makeSandbox(uid);
  cleanups.push(() => fs.rmSync(sb.root, { recursive: true, force: true }));
  return sb;
}

function options(sb: TestSandbox, extra: Partial<DestroyOptions> = {}): DestroyOptions {
  return { user: sb.user, app: APP, destroyCommand: destroyCommand(sb), prefix: sb.root, lingerDir: sb.lingerDir, journalRoot: sb.journalRoot, graceMs: 300, retries: 1, retryDelayMs: 10, handleSignals: false, extraKinds: testKinds, ...extra };
}

/** A uid for the process tests, from a range the other sandboxes never use (47000-48999). */
function processUid(): number {
  const used = new Set(fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => Number(l.split(':')[2])));
  for (;;) {
    const uid = 49000 + Math.floor(Math.random() * 1000);
    if (!used.has(uid) && processesOf(uid).length === 0) return uid;
  }
}

/** Processes of the sandbox user: a plain sleep, and one that ignores TERM (only KILL ends it). */
async function startProcesses(uid: number): Promise<ChildProcess[]> {
  const as = ['--reuid', String(uid), '--regid', String(uid), '--clear-groups'];
  const children = [spawn('setpriv', [...as, 'sleep', '1000'], { cwd: '/', stdio: 'ignore' }), spawn('setpriv', [...as, 'sh', '-c', 'trap "" TERM; sleep 1000'], { cwd: '/', stdio: 'ignore' })];
  // Every process of this test's uid is one this test started (the uid is free on the machine and
  // unique to the test): the sleeps under `sh` outlive their parent, so each is killed by its pid.
  cleanups.push(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const pid of processesOf(uid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended on its own meanwhile
      }
    }
  });
  for (let i = 0; i < 100 && processesOf(uid).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  expect(processesOf(uid).length).toBeGreaterThanOrEqual(3);
  return children;
}

const busy = (user: string): Fault => ({ exitCode: 8, stderr: `userdel: user ${user} is currently used by process 4242` });

describe('user-destroy in a sandbox (real shadow tools, real processes)', () => {
  beforeAll(() => requireHere(skipReason, 'root (the real shadow tools and setpriv)'));
  it("a clean run commits: the application's destroy command ran as the user, the account, its group and linger file are gone; the snapshots are dropped", async () => {
    const sb = sandbox();
    const home = join(sb.root, sb.home);
    const { exec, calls } = faultyExec();
    const result = await destroyUser(options(sb, { exec }));
    expect(result.status, result.message).toBe('committed');
    expect(result.outcome!.steps.map((s) => s.type)).toEqual(['snapshots.snapshot', 'snapshots.snapshot', 'userDestroy.destroyAsUser', 'users.removeUser']);
    expectDestroyed(sb, expect);
    expect(await lookupUser('alice', { prefix: sb.root })).toBeUndefined();
    // The home stays (like userdel without -r), without the managed state.
    expect(fs.readdirSync(join(home, '.config'))).toEqual([]);
    expect(fs.readdirSync(join(home, '.local', 'share'))).toEqual([]);
    // The application's own destroy command ran as the user, not as root.
    expect(calls.find((c) => c[0] === 'setpriv')).toEqual(['setpriv', `--reuid=${sb.uid}`, expect.stringMatching(/^--regid=\d+$/), '--clear-groups', '--', ...destroyCommand(sb)]);
    // The snapshot lived in the journal and was deleted at commit.
    const [tx] = listTransactions(sb.journalRoot);
    expect(fs.existsSync(join(sb.journalRoot, tx!.id, 'blobs'))).toBe(true);
    expect(fs.readdirSync(join(sb.journalRoot, tx!.id, 'blobs', '0'), { recursive: true }).filter((p) => String(p).includes('manifest'))).toEqual([]);
    expect(result.message).toContain(`Deleted user alice in the sandbox ${sb.root}, after running their destroy command (${destroyCommand(sb).join(' ')}) as them.`);
  });

  it("stops the user's processes first — TERM, the grace period, then KILL for the one that ignores TERM — and with --remove-home the home goes too", async () => {
    const sb = sandbox(processUid());
    await startProcesses(sb.uid);
    const { exec, calls } = faultyExec();
    const result = await destroyUser(options(sb, { exec, removeHome: true }));
    expect(result.status, result.message).toBe('committed');
    expect(processesOf(sb.uid)).toEqual([]);
    expect(calls.filter((c) => c[0] === 'pkill').map((c) => c[1])).toEqual(['-TERM', '-TERM', '-KILL', '-KILL']);
    // The account went only after the processes were stopped.
    const order = calls.map((c) => c[0]);
    expect(order.lastIndexOf('pkill')).toBeLessThan(order.indexOf('userdel'));
    expectDestroyed(sb, expect);
    expect(fs.readdirSync(join(sb.root, 'home'))).toEqual([]);
  });

  it.each([0, 1, 2, 3, 4])('a failure right after step %i rolls back: the user exists with all of their state, byte for byte', async (n) => {
    const sb = sandbox();
    const before = destroyState(sb);
    const result = await destroyUser(options(sb, { inject: [{ afterStep: n, step: failingStep({ message: `injected after step ${n}` }) }] }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(destroyState(sb)).toEqual(before);
    expect(result.message).toContain(`Destroying user alice in the sandbox ${sb.root} FAILED, and a rollback ran.`);
    expect(result.message).toContain(`Step ${n + 1} of 5 failed: fail on purpose (injected after step ${n})`);
    expect(result.message).toContain(`Result: rolled back — user alice exists with all of their state (${sb.stateDir}, ${sb.dataDir} restored from the snapshots taken first).`);
  });

  it('userdel failing with exit 8 every time: retried, then rolled back — the user exists with all of their state, byte for byte', async () => {
    const sb = sandbox();
    const before = destroyState(sb);
    const { exec, calls } = faultyExec((spec) => (spec.argv[0] === 'userdel' ? busy('alice') : undefined));
    const result = await destroyUser(options(sb, { exec, retries: 2 }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(calls.filter((c) => c[0] === 'userdel')).toHaveLength(3);
    const failed = result.outcome!.steps[3]!;
    expect(failed).toMatchObject({ type: 'users.removeUser', attempts: 3, error: { code: 'USER_BUSY', context: { exitCode: 8 } } });
    // The destroy really ran (the state was gone) before the snapshots put it back.
    expect(result.outcome!.steps[2]!.status).toBe('undone');
    expect(destroyState(sb)).toEqual(before);
    expect(await lookupUser('alice', { prefix: sb.root })).toMatchObject({ name: 'alice', uid: sb.uid, home: sb.home });
    expect(result.message).toContain('Step 4 of 4 failed: remove user alice');
    expect(result.message).toContain('userdel: user alice is currently used by process 4242');
    expect(result.message).toContain('The account could not be deleted: it stayed busy after 3 attempts (userdel exit 8, processes still running).');
    expect(result.message).toContain('Rolled back 4 steps, newest first.');
    expect(result.message).toContain('Result: rolled back — user alice exists with all of their state');
  });

  it('a process that cannot be killed (pkill has no effect): the account is not deleted, the state comes back from the snapshot', async () => {
    const sb = sandbox(processUid());
    await startProcesses(sb.uid);
    const before = destroyState(sb);
    const { exec, calls } = faultyExec((spec) => (spec.argv[0] === 'pkill' ? { exitCode: 0, stderr: '' } : undefined));
    const result = await destroyUser(options(sb, { exec, retries: 0, graceMs: 100 }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(processesOf(sb.uid).length).toBeGreaterThanOrEqual(3);
    expect(calls.some((c) => c[0] === 'userdel')).toBe(false);
    expect(result.outcome!.steps[3]!.error).toMatchObject({ code: 'USER_BUSY' });
    expect(destroyState(sb)).toEqual(before);
    expect(result.message).toContain('it stayed busy after 1 attempt');
  }, 30_000);

  it('a transient busy userdel succeeds on the retry', async () => {
    const sb = sandbox();
    let first = true;
    const { exec } = faultyExec((spec) => (spec.argv[0] === 'userdel' && first ? ((first = false), busy('alice')) : undefined));
    const result = await destroyUser(options(sb, { exec }));
    expect(result.status, result.message).toBe('committed');
    expect(result.outcome!.steps[3]!.attempts).toBe(2);
    expectDestroyed(sb, expect);
  });

  it.each([
    ['the destroy command deletes everything, then reports a failure', 'setpriv', 2],
    ['the real userdel deletes the account, then reports a failure', 'userdel', 3],
  ] as const)('%s: rolled back exactly', async (_what, program, index) => {
    const sb = sandbox();
    const before = destroyState(sb);
    const { exec } = faultyExec((spec) => (spec.argv[0] === program ? 'fail-after' : undefined));
    const result = await destroyUser(options(sb, { exec, retries: 0 }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(result.outcome!.steps.findIndex((s) => s.error)).toBe(index);
    expect(destroyState(sb)).toEqual(before);
  });

  it("the application's destroy command fails half-way (its config gone, its data not): rolled back, both restored byte for byte, its message shown", async () => {
    const sb = sandbox();
    const before = destroyState(sb);
    const result = await destroyUser(options(sb, { destroyCommand: destroyCommand(sb, '--fail-halfway') }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(result.outcome!.steps[2]).toMatchObject({ type: 'userDestroy.destroyAsUser', status: 'undone' });
    expect(result.message).toContain('destroy failed half-way: the data directory is still there');
    expect(destroyState(sb)).toEqual(before);
    expect(await lookupUser('alice', { prefix: sb.root })).toMatchObject({ uid: sb.uid });
  });

  it("--no-stop-processes: no pkill, the user's processes keep running; where userdel then answers busy (exit 8, as it does outside a prefix root) the destroy rolls back", async () => {
    // Inside a prefix root userdel does not look at processes, so the real one deletes the account anyway.
    const sb = sandbox(processUid());
    await startProcesses(sb.uid);
    const running = processesOf(sb.uid).sort();
    const { exec, calls } = faultyExec();
    const result = await destroyUser(options(sb, { exec, stopProcesses: false }));
    expect(result.status, result.message).toBe('committed');
    expect(calls.some((c) => c[0] === 'pkill')).toBe(false);
    expect(processesOf(sb.uid).sort()).toEqual(running);
    // On a machine's own database userdel refuses a user with running processes: exit 8 every time.
    const other = sandbox(processUid());
    await startProcesses(other.uid);
    const stillRunning = processesOf(other.uid).sort();
    const before = destroyState(other);
    const busyRun = faultyExec((spec) => (spec.argv[0] === 'userdel' ? busy('alice') : undefined));
    const rolled = await destroyUser(options(other, { exec: busyRun.exec, stopProcesses: false, retries: 0 }));
    expect(rolled.status, rolled.message).toBe('rolled-back');
    expect(busyRun.calls.some((c) => c[0] === 'pkill')).toBe(false);
    expect(rolled.outcome!.steps[3]).toMatchObject({ type: 'users.removeUser', error: { code: 'USER_BUSY' } });
    expect(processesOf(other.uid).sort()).toEqual(stillRunning);
    expect(destroyState(other)).toEqual(before);
  });

  it('the snapshot scope is what the command touches: given paths only, missing ones skipped; a path leaving the home is refused', async () => {
    const sb = sandbox();
    const { exec } = faultyExec((spec) => (spec.argv[0] === 'userdel' ? busy('alice') : undefined));
    const before = destroyState(sb);
    const result = await destroyUser(options(sb, { exec, retries: 0, snapshotPaths: [`.config/${APP}`, `.local/share/${APP}`, '.cache/never-made'] }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(result.snapshotted).toEqual([sb.stateDir, sb.dataDir]);
    expect(destroyState(sb)).toEqual(before);
    const outside = await destroyUser(options(sb, { snapshotPaths: ['../../etc'] }));
    expect(outside.status).toBe('refused');
    expect(outside.exitCode).toBe(4);
    expect(destroyState(sb)).toEqual(before);
  });

  it('refuses, touching nothing: a user that does not exist; an invalid name', async () => {
    const sb = sandbox();
    const before = destroyState(sb);
    const missing = await destroyUser(options(sb, { user: 'bob' }));
    expect(missing.status).toBe('refused');
    expect(missing.message).toContain(`User bob does not exist in the sandbox ${sb.root}; nothing was changed.`);
    await expect(destroyUser(options(sb, { user: 'Bad;name' }))).rejects.toThrow(/user name/);
    await expect(destroyUser(options(sb, { app: '../etc' }))).rejects.toThrow(/application name/);
    expect(destroyState(sb)).toEqual(before);
  });

  it('root and system accounts are protected: refused before anything is touched', async () => {
    const sb = sandbox();
    const before = destroyState(sb);
    fs.mkdirSync(join(sb.root, 'root/.config', APP), { recursive: true });
    const after = destroyState(sb);
    const root = await destroyUser(options(sb, { user: 'root' }));
    expect(root.status).toBe('refused');
    expect(root.message).toMatch(/root/);
    const daemon = await destroyUser(options(sb, { user: 'daemon' }));
    expect(daemon.status).toBe('refused');
    expect(destroyState(sb)).toEqual(after);
    expect(before.db).toEqual(after.db);
  });

  it('every account removeUser protects is refused before the snapshot and the destroy command run (exit 4, nothing touched): a member of sudo or adm, a privileged primary group, a uid above UID_MAX', async () => {
    const ran: string[][] = [];
    const recording: DestroyOptions['exec'] = (spec) => {
      ran.push([...spec.argv]);
      return runCommand(spec);
    };
    const refusedWith = async (sb: TestSandbox, reason: RegExp) => {
      const before = destroyState(sb);
      ran.length = 0;
      const result = await destroyUser(options(sb, { exec: recording }));
      expect(result.status, result.message).toBe('refused');
      expect(result.exitCode).toBe(4);
      expect(result.outcome).toBeUndefined();
      expect(result.message).toMatch(reason);
      expect(result.message).toContain('nothing was changed');
      // The destroy command never ran: the managed state is there, byte for byte, with its mtimes.
      expect(ran.some((argv) => argv.some((a) => a.endsWith(`/bin/${APP}`)))).toBe(false);
      expect(fs.existsSync(sb.stateDir)).toBe(true);
      expect(destroyState(sb)).toEqual(before);
    };
    const group = (sb: TestSandbox, name: string, members: string) => {
      const path = join(sb.root, 'etc/group');
      const text = fs.readFileSync(path, 'utf8');
      expect(text).toMatch(new RegExp(`^${name}:`, 'm'));
      fs.writeFileSync(path, text.replace(new RegExp(`^(${name}:[^:]*:[^:]*:).*$`, 'm'), `$1${members}`));
    };

    const sudoer = sandbox();
    group(sudoer, 'sudo', 'alice');
    await refusedWith(sudoer, /User alice is protected \(a member of sudo/);

    const adm = sandbox();
    group(adm, 'adm', 'syslog,alice');
    await refusedWith(adm, /a member of adm/);

    const primary = sandbox();
    const passwd = join(primary.root, 'etc/passwd');
    fs.writeFileSync(passwd, fs.readFileSync(passwd, 'utf8').replace(/^(alice:[^:]*:\d+:)\d+:/m, '$127:'));
    await refusedWith(primary, /its primary group is sudo/);

    const high = sandbox(60_000 + 1 + Math.floor(Math.random() * 1000));
    await refusedWith(high, /is above UID_MAX 60000/);
  });
});
