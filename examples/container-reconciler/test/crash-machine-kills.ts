// What the crash tests of the command line in the throw-away machine share: the command line
// (killed by the hooks child after a journal record, or failing after a container's Nth step),
// `container-reconciler recover`, the machine's state as one value, and the loop that kills at
// a transaction's records and checks the machine after each recovery.
import { join } from 'node:path';
import { expect } from 'vitest';
import { listTransactions, readJournalFile, type JournalRecord } from '@unwind/core';
import { killSample, type Machine } from '@unwind/core/testing';
import { repoRoot, syncOptions } from './machine-desired.js';

/** Kill points (and failure points) per scenario in the default run. */
const BUDGET = 1;

/**
 * The points a scenario runs: killSample's seeded sample (UNWIND_KILL_POINTS=0: all, UNWIND_KILL_SEED
 * replays). With UNWIND_KILL_SCENARIO=a,b only the scenarios whose transaction name holds one of
 * the texts follow UNWIND_KILL_POINTS; the others run the default sample — every record of the
 * scenarios asked for, without the hour all of them take.
 *
 * @example
 * ```ts
 * const { chosen, seed } = sampleFor('containers: update api', records.map((r) => r.seq)); // UNWIND_KILL_SCENARIO=update UNWIND_KILL_POINTS=0: all
 * ```
 */
export function sampleFor<T>(transaction: string, points: readonly T[]): { chosen: T[]; seed: number } {
  const asked = process.env.UNWIND_KILL_SCENARIO;
  if (!asked || asked.split(',').some((text) => transaction.includes(text))) return killSample(points, BUDGET);
  // killSample reads UNWIND_KILL_POINTS itself: left out for this call only, so the default sample is drawn.
  const all = process.env.UNWIND_KILL_POINTS;
  delete process.env.UNWIND_KILL_POINTS;
  try {
    return killSample(points, BUDGET);
  } finally {
    if (all !== undefined) process.env.UNWIND_KILL_POINTS = all;
  }
}

/** How the machine starts the command line and the hooks child (node arguments; see machine-bundle.ts). */
export interface Starts {
  main: string[];
  hooksChild: string[];
}

/** The hooks of the hooks child: SIGKILL right after a record of a transaction, or a failure after a container's Nth step. */
export interface Hooks {
  kill?: { transaction: string; record: number };
  failAfter?: { key: string; step: number };
}

/** One kill scenario: a transaction of the command line and what its state is. */
export interface Scenario {
  /** The state directory the runs use. */
  state: string;
  /** The transaction whose records are the kill points. */
  transaction: string;
  /** The containers whose units the state holds. */
  containers: readonly string[];
  /** Puts the machine back in the before-state after a kill past the commit point. */
  reset: () => void;
  /** Whether the state holds the checkout (not for a container's transaction: the run's fetch before it commits anyway). */
  checkout: boolean;
}

/**
 * Everything a run may change, as one shell script's output: the user database, the homes
 * (paths, types, modes, owners, sizes, link targets, bytes), linger, the active user managers,
 * the given containers' generated units on their users' managers (loaded from where, active,
 * whether a reload is pending) and the command line their main process runs — so a container
 * rolled back to its old file but still running what the new one said is told apart — and
 * (with a checkout path) the checkout of the desired state: its tree, and whether it is clean.
 */
const STATE_SCRIPT = String.raw`
checkout="$1"; shift
for f in passwd group shadow gshadow subuid subgid; do printf '%s ' "$f"; sha256sum < "/etc/$f" 2>/dev/null || echo none; done
find /home /var/lib/systemd/linger -printf '%p %y %m %u %g %s %l\n' | sort
find /home -type f -exec sha256sum {} + | sort
systemctl list-units --state=active --plain --no-legend 'user@*.service' | awk '{ print $1 }'
for u in "$@"; do
  if id "$u" >/dev/null 2>&1; then
    # A user manager busy with a reload may answer nothing for a moment (a CI run read that as its
    # units gone): asked again for up to 5 s. One that never answers (not running) prints nothing, as before.
    tries=0
    until shown=$(systemctl --user -M "$u@" show -p Id,LoadState,ActiveState,SourcePath,NeedDaemonReload "$u.service" "$u-volume.service" 2>/dev/null) && [ -n "$shown" ]; do
      tries=$((tries + 1))
      if [ "$tries" -ge 20 ]; then break; fi
      sleep 0.25
    done
    if [ -n "$shown" ]; then printf '%s\n' "$shown"; fi
    pid=$(systemctl --user -M "$u@" show -p MainPID --value "$u.service")
    if [ -n "$pid" ] && [ "$pid" != 0 ]; then printf '%s runs: ' "$u"; tr '\0' ' ' < "/proc/$pid/cmdline"; echo; fi
  fi
done
if [ -z "$checkout" ]; then :; elif [ -d "$checkout" ]; then git -C "$checkout" rev-parse 'HEAD^{tree}'; git -C "$checkout" status --porcelain --untracked-files=all; else echo 'no checkout'; fi
`;

/**
 * The crash-test helpers bound to one machine and the way it starts the programs.
 *
 * @example
 * ```ts
 * const k = crashMachine(machine, starts);
 * const before = k.machineState(state, ['web']);
 * k.killAtRecords({ state, transaction: 'containers: update web', containers: ['web'], reset, checkout: false }, records, before, after);
 * ```
 */
export function crashMachine(machine: Machine, start: Starts) {
  /** The command line, in the machine; with hooks, through the hooks child. */
  function cli(args: string[], hooks?: Hooks) {
    const argv = hooks ? [...start.hooksChild, JSON.stringify(hooks), ...args] : [...start.main, ...args];
    const r = machine.run(['node', ...argv], { cwd: repoRoot, timeoutMs: 240_000 });
    return { code: r.status, signal: r.signal, stdout: r.stdout.trim(), stderr: r.stderr };
  }
  const sync = (state: string) => cli(syncOptions(state));
  const recoverCli = (state: string) => cli(['recover', '--state', state]);

  /** See {@link STATE_SCRIPT}; `checkout` false leaves the checkout out. */
  function machineState(state: string, containers: readonly string[], checkout = true) {
    const r = machine.run(['sh', '-c', STATE_SCRIPT, 'sh', checkout ? join(state, 'repo') : '', ...containers], { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  }

  /** The records of the newest transaction of that name in a state directory's journal. */
  function recordsOf(state: string, name: string): JournalRecord[] {
    const found = listTransactions(join(state, 'journal')).filter((t) => t.state?.name === name).at(-1);
    expect(found, `a transaction "${name}" in ${state}`).toBeDefined();
    return readJournalFile(found!.path).records;
  }

  /**
   * Runs the command line killed after each chosen record of `s.transaction` (the clean run's
   * records: `records`), each time followed by two recoveries through the command line; checks
   * the before-state (or past the commit point `after`) and that the second recovery changed
   * nothing. The records in `always` (a regression's point) run on top of the sample. Returns
   * how many points ran and how many passed the commit point.
   */
  function killAtRecords(s: Scenario, records: readonly JournalRecord[], before: string, after: string, always: readonly number[] = []): { run: number; pastCommit: number } {
    const sampled = sampleFor(s.transaction, records.map((r) => r.seq));
    const chosen = [...new Set([...sampled.chosen, ...always])].sort((a, b) => a - b);
    console.log(`kill points [${s.transaction}]: running ${chosen.length} of ${records.length} records (${chosen.join(', ')}; seed ${sampled.seed}${always.length > 0 ? `; always ${always.join(', ')}` : ''}; UNWIND_KILL_POINTS=0 runs all, UNWIND_KILL_SCENARIO=text only those)`);
    let pastCommit = 0;
    for (const n of chosen) {
      expect(machineState(s.state, s.containers, s.checkout), `the before-state, ahead of the kill at record ${n}`).toBe(before);
      const killed = cli(syncOptions(s.state), { kill: { transaction: s.transaction, record: n } });
      expect(killed.signal === 'SIGKILL' || killed.code === 128 + 9, `record ${n}: ${killed.code} ${killed.signal} ${killed.stdout}\n${killed.stderr}`).toBe(true);
      const committed = recordsOf(s.state, s.transaction).some((r) => r.kind === 'commit-point');
      const finished = records[n - 1]!.kind === 'end';
      const recovered = recoverCli(s.state);
      expect(recovered.code, `recover after record ${n}: ${recovered.stdout}\n${recovered.stderr}`).toBe(0);
      if (finished) expect(recovered.stdout).toBe('Nothing to recover: no unfinished transaction.');
      else expect(recovered.stdout).toMatch(new RegExp(`^(${s.transaction.replace(/[()]/g, '\\$&')}|unknown) \\(\\S+\\): ${committed ? 'committed' : 'rolled-back'}$`));
      const state = machineState(s.state, s.containers, s.checkout);
      expect(state, `kill after record ${n} (${records[n - 1]!.kind}), ${committed ? 'past' : 'before'} the commit point`).toBe(committed ? after : before);
      const again = recoverCli(s.state);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout, `second recover after record ${n}`).toBe('Nothing to recover: no unfinished transaction.');
      expect(machineState(s.state, s.containers, s.checkout), `second recover after record ${n}`).toBe(state);
      if (committed) {
        pastCommit++;
        s.reset();
      }
    }
    return { run: chosen.length, pastCommit };
  }

  return { cli, sync, recoverCli, machineState, recordsOf, killAtRecords };
}
