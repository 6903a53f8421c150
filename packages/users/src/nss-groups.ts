import { reuseAnswer, runCommandSync } from '@unwind/core';

/**
 * How long an answer is reused: the checks of one step ask several times
 * within milliseconds, and only root (or whoever runs the directory service)
 * can change it.
 */
const REUSE_MS = 1000;
const TIMEOUT_MS = 15_000;

/**
 * The gids the machine's group database gives the groups `names`, each with
 * its name: what `getent group NAME…` answers, so every source nsswitch.conf
 * names counts (the files, and LDAP, SSSD or systemd's userdb). A group that
 * exists only there has a gid all the same, and a local group with that gid
 * is a second name for it. Asked synchronously, because the protection rules
 * are asked from synchronous checks (a journal's, too); one answer is reused
 * for a second. `getent` runs through core's `runCommandSync` (found and
 * vetted as `runCommand` finds a program, with the trusted part of PATH); it
 * failing is an error, never an empty answer.
 *
 * @example
 * ```ts
 * machineGroupGids(['sudo', 'wheel']); // Map { 27 => 'sudo', 10 => 'wheel' } where LDAP has wheel
 * ```
 */
export function machineGroupGids(names: readonly string[]): ReadonlyMap<number, string> {
  return reusedGids(names);
}

const sameNames = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((name, i) => name === b[i]);
const reusedGids = reuseAnswer(REUSE_MS, ask, sameNames);

function ask(names: readonly string[]): ReadonlyMap<number, string> {
  // 2: one of the names is not in the database; the others are still printed.
  const { stdout } = runCommandSync({ argv: ['getent', 'group', ...names], okExitCodes: [0, 2], timeoutMs: TIMEOUT_MS });
  const gids = new Map<number, string>();
  for (const line of stdout.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === undefined || !names.includes(name) || gid === undefined || !/^\d+$/.test(gid)) continue;
    if (!gids.has(Number(gid))) gids.set(Number(gid), name);
  }
  return gids;
}
