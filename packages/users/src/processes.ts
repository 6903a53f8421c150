import * as fs from 'node:fs';
import { signalProcesses, startTimeOf, type ProcessIdentity, type StepContext } from '@unwind/core';
import { UserBusyError } from './errors.js';
import { readLines } from './db.js';
import { parseSubordinateRange, type SubordinateRange } from './subordinate-ids.js';

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
 * in a sandbox the user made herself (`unshare -Urpf`, a rootless
 * container): another PID namespace, in a user namespace that maps nothing
 * but her uid and her own subordinate ids (`name`'s ranges in the machine's
 * /etc/subuid), which is all an unprivileged user can map. They run with the
 * uid all the same: left running, they would act with the files of the next
 * account given it, and userdel does not see them once chrooted. A root-made
 * container's user namespace maps more (LXD's raw.idmap beside root's own
 * ranges, systemd-nspawn -U's, docker's userns-remap): left alone, like one
 * in this user namespace. Signalled by pid, each only while its pid still
 * names the process found.
 */
function sandboxedProcessesOf(uid: number, name: string, live: readonly string[] = liveProcessesOf(uid)): ProcessIdentity[] {
  const ownPid = ownPidNamespace();
  const ownUser = ownUserNamespace();
  if (ownPid === undefined || ownUser === undefined) return [];
  const hers = [{ start: uid, count: 1 }, ...ownSubordinateUids(name)];
  const out: ProcessIdentity[] = [];
  for (const entry of live) {
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/pid`) === ownPid || fs.readlinkSync(`/proc/${entry}/ns/user`) === ownUser) continue;
      if (!mapsOnly(fs.readFileSync(`/proc/${entry}/uid_map`, 'utf8'), hers)) continue;
      const start = startTimeOf(Number(entry));
      if (start !== undefined) out.push({ pid: Number(entry), start });
    } catch {
      continue; // it ended while we looked
    }
  }
  return out;
}

/** `name`'s subordinate uid ranges in the machine's /etc/subuid (the processes are the machine's, whatever the prefix). */
function ownSubordinateUids(name: string): Array<{ start: number; count: number }> {
  return readLines('/etc/subuid')
    .map(parseSubordinateRange)
    .filter((range): range is SubordinateRange => range !== undefined && range.name === name);
}

/**
 * Whether every range of a uid_map (as this user namespace reads it: `inside
 * outside count` lines, outside in this namespace's ids) lies within `allowed`.
 */
function mapsOnly(uidMap: string, allowed: ReadonlyArray<{ start: number; count: number }>): boolean {
  const lines = uidMap.split('\n').filter((line) => line.trim() !== '');
  return lines.length > 0 && lines.every((line) => {
    const [, outside, count] = line.trim().split(/\s+/).map(Number);
    if (!Number.isInteger(outside) || !Number.isInteger(count)) return false;
    return allowed.some((range) => outside! >= range.start && outside! + count! <= range.start + range.count);
  });
}

/** Every process of `uid` the removal waits for: this machine's, and the user's own sandboxes. */
function remainingOf(uid: number, name: string): number[] {
  // One walk of /proc for both: this runs every 50 ms while the removal waits.
  const live = liveProcessesOf(uid);
  const own = ownPidNamespace();
  return [...live.filter((entry) => inPidNamespace(entry, own)).map(Number), ...sandboxedProcessesOf(uid, name, live).map((p) => p.pid)];
}

async function waitGone(uid: number, name: string, ms: number, signal: AbortSignal): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (remainingOf(uid, name).length === 0) return true;
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
  if (remainingOf(uid, name).length === 0) return;
  // pkill exits 1 when nothing matched: the processes ended on their own.
  // By effective and by real uid, as userdel counts both (a setuid program the user started).
  // Only in this PID namespace (--ns: pkill's, which is ours): a container's processes of the same numeric uid are not this user's.
  const thisMachine = ['--ns', String(process.pid), '--nslist', 'pid'];
  const signalAll = async (sig: 'TERM' | 'KILL') => {
    await run(['pkill', `-${sig}`, ...thisMachine, '-u', String(uid)], [0, 1]);
    await run(['pkill', `-${sig}`, ...thisMachine, '-U', String(uid)], [0, 1]);
    // The user's own sandboxes (see sandboxedProcessesOf), found again each time: pkill does not reach them.
    signalProcesses(sandboxedProcessesOf(uid, name), `SIG${sig}`);
  };
  await signalAll('TERM');
  if (await waitGone(uid, name, options.graceMs ?? 5000, ctx.signal)) return;
  await signalAll('KILL');
  if (await waitGone(uid, name, 5000, ctx.signal)) return;
  throw new UserBusyError(name, undefined, { uid, pids: remainingOf(uid, name) });
}
