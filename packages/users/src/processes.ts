import * as fs from 'node:fs';
import { signalProcesses, startTimeOf, type ProcessIdentity, type StepContext } from '@unwind/core';
import { UserBusyError } from './errors.js';

/**
 * How to stop a user's processes before the account goes.
 *
 * @example
 * ```ts
 * await stopUserProcesses(ctx, 'app', 1001, { graceMs: 2000, manager: false });
 * ```
 */
export interface StopOptions {
  /** Time between TERM and KILL, in ms (default 5000). */
  graceMs?: number;
  /** Stop `user@UID.service` first when systemd runs (default true; never with a prefix). */
  manager?: boolean;
  prefix?: string;
  commandTimeoutMs?: number;
}

/** This process's PID namespace (`pid:[4026531836]`), or undefined where /proc has no ns links. */
function ownPidNamespace(): string | undefined {
  try {
    return fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/**
 * Whether a process belongs to this machine: to this PID namespace. /proc of
 * a host also lists every container's and nested machine's processes, with
 * the same numeric uids (a container's uid 1001 is not this machine's user
 * 1001). An unreadable link (not root) counts as this machine's: counting a
 * process too many only makes the caller wait; false means "ended".
 */
function inPidNamespace(pid: string, own: string | undefined): boolean {
  if (own === undefined) return true;
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`) === own;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * The live (non-zombie) processes of this machine whose real or effective uid
 * is `uid`, read from /proc. Processes in other PID namespaces (containers,
 * nested machines) are not this user's and are left out. Read-only.
 *
 * @example
 * ```ts
 * processesOf(1001); // [4242, 4243]
 * ```
 */
export function processesOf(uid: number): number[] {
  const own = ownPidNamespace();
  return liveProcessesOf(uid).filter((entry) => inPidNamespace(entry, own)).map(Number);
}

/** The /proc entries of the live (non-zombie) processes whose real or effective uid is `uid`, in any namespace. */
function liveProcessesOf(uid: number): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // it ended while we looked
    }
    if (/^State:\s+Z/m.test(status)) continue;
    const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (ids && (Number(ids[1]) === uid || Number(ids[2]) === uid)) out.push(entry);
  }
  return out;
}

/** This process's user namespace (`user:[4026531837]`), or undefined where /proc has no ns links. */
function ownUserNamespace(): string | undefined {
  try {
    return fs.readlinkSync('/proc/self/ns/user');
  } catch {
    return undefined;
  }
}

/**
 * The live processes of `uid` (real or effective, as this machine counts it)
 * in another PID namespace and another user namespace: a sandbox the user
 * made herself (`unshare -Urpf`, a rootless container). No PID namespace
 * can be made without a user namespace by anyone but root, so these are not
 * a root-made container's; and they run with the uid all the same: left
 * running, they would act with the files of the next account given that
 * uid. userdel does not see them either (another root). Signalled by pid,
 * each only while its pid still names the process found.
 */
function sandboxedProcessesOf(uid: number): ProcessIdentity[] {
  const ownPid = ownPidNamespace();
  const ownUser = ownUserNamespace();
  if (ownPid === undefined || ownUser === undefined) return [];
  const out: ProcessIdentity[] = [];
  for (const entry of liveProcessesOf(uid)) {
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/pid`) === ownPid || fs.readlinkSync(`/proc/${entry}/ns/user`) === ownUser) continue;
      const start = startTimeOf(Number(entry));
      if (start !== undefined) out.push({ pid: Number(entry), start });
    } catch {
      continue; // it ended while we looked
    }
  }
  return out;
}

/** Every process of `uid` the removal waits for: this machine's, and the user's own sandboxes. */
function remainingOf(uid: number): number[] {
  return [...processesOf(uid), ...sandboxedProcessesOf(uid).map((p) => p.pid)];
}

async function waitGone(uid: number, ms: number, signal: AbortSignal): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (remainingOf(uid).length === 0) return true;
    if (Date.now() >= until || signal.aborted) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Stops every process of a user on this machine: its systemd user manager
 * (when systemd runs), then `pkill -TERM -u UID` (and `-U`) limited to this
 * PID namespace, a grace period, `pkill -KILL`. Processes of the same uid in
 * containers or nested machines are never signalled.
 * Programs run through the step's command runner, so tests can replace them.
 * Throws UserBusyError (retryable) when processes survive.
 *
 * @example
 * ```ts
 * await stopUserProcesses(ctx, 'app', 1001, { graceMs: 3000 });
 * ```
 */
export async function stopUserProcesses(ctx: StepContext, name: string, uid: number, options: StopOptions = {}): Promise<void> {
  if (uid === 0) throw new UserBusyError(name, undefined, { reason: 'refusing to signal uid 0' });
  const timeoutMs = options.commandTimeoutMs ?? 30_000;
  const run = (argv: string[], ok: number[]) => ctx.exec({ argv, okExitCodes: ok, timeoutMs, signal: ctx.signal });
  if ((options.manager ?? true) && !options.prefix && fs.existsSync('/run/systemd/system')) {
    // 5: the unit is not loaded, i.e. no manager runs for this user.
    await run(['systemctl', 'stop', `user@${uid}.service`], [0, 5]);
  }
  if (remainingOf(uid).length === 0) return;
  // pkill exits 1 when nothing matched: the processes ended on their own.
  // By effective and by real uid, as userdel counts both (a setuid program the user started).
  // Only in this PID namespace (--ns: pkill's, which is ours): a container's processes of the same numeric uid are not this user's.
  const thisMachine = ['--ns', String(process.pid), '--nslist', 'pid'];
  const signalAll = async (sig: 'TERM' | 'KILL') => {
    await run(['pkill', `-${sig}`, ...thisMachine, '-u', String(uid)], [0, 1]);
    await run(['pkill', `-${sig}`, ...thisMachine, '-U', String(uid)], [0, 1]);
    // The user's own sandboxes (see sandboxedProcessesOf), found again each time: pkill does not reach them.
    signalProcesses(sandboxedProcessesOf(uid), `SIG${sig}`);
  };
  await signalAll('TERM');
  if (await waitGone(uid, options.graceMs ?? 5000, ctx.signal)) return;
  await signalAll('KILL');
  if (await waitGone(uid, 5000, ctx.signal)) return;
  throw new UserBusyError(name, undefined, { uid, pids: remainingOf(uid) });
}
