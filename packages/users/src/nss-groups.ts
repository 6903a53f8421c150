import { spawnSync } from 'node:child_process';
import { CommandFailedError, CommandNotFoundError, CommandTimeoutError, defaultEnv, findProgram, trustedSearchPath, type CommandResult } from '@unwind/core';

/** How long an answer is reused: the checks of one step ask several times within milliseconds. */
const REUSE_MS = 1000;
const TIMEOUT_MS = 15_000;

let last: { key: string; at: number; gids: ReadonlyMap<number, string> } | undefined;

/**
 * The gids the machine's group database gives the groups `names`, each with
 * its name: what `getent group NAME…` answers, so every source nsswitch.conf
 * names counts (the files, and LDAP, SSSD or systemd's userdb). A group that
 * exists only there has a gid all the same, and a local group with that gid
 * is a second name for it. Asked synchronously, because the protection rules
 * are asked from synchronous checks (a journal's, too); one answer is reused
 * for a second. `getent` is found as `runCommand` finds a program (never in
 * a directory another user can change) and runs with the trusted part of
 * PATH; it failing is an error, never an empty answer.
 *
 * @example
 * ```ts
 * machineGroupGids(['sudo', 'wheel']); // Map { 27 => 'sudo', 10 => 'wheel' } where LDAP has wheel
 * ```
 */
export function machineGroupGids(names: readonly string[]): ReadonlyMap<number, string> {
  const key = names.join(',');
  const now = Date.now();
  if (last !== undefined && last.key === key && now - last.at < REUSE_MS) return last.gids;
  const gids = ask(names);
  last = { key, at: now, gids };
  return gids;
}

function ask(names: readonly string[]): ReadonlyMap<number, string> {
  const argv = ['getent', 'group', ...names];
  const env = defaultEnv();
  const found = findProgram('getent', env.PATH, '/');
  if ('refused' in found) throw new CommandNotFoundError(argv, new Error(found.refused));
  const started = performance.now();
  const run = spawnSync(found.file, argv.slice(1), { argv0: 'getent', encoding: 'utf8', env: { ...env, PATH: trustedSearchPath(env.PATH) }, cwd: '/', timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 });
  const result: CommandResult = { argv, exitCode: run.status, signal: run.signal, stdout: run.stdout ?? '', stderr: run.stderr ?? '', durationMs: Math.round(performance.now() - started) };
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') throw new CommandTimeoutError(result, TIMEOUT_MS);
  if (run.error) throw new CommandNotFoundError(argv, run.error);
  // 2: one of the names is not in the database; the others are still printed.
  if (run.status !== 0 && run.status !== 2) throw new CommandFailedError(result);
  const gids = new Map<number, string>();
  for (const line of result.stdout.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === undefined || !names.includes(name) || gid === undefined || !/^\d+$/.test(gid)) continue;
    if (!gids.has(Number(gid))) gids.set(Number(gid), name);
  }
  return gids;
}
