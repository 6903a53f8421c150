import * as fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { listTransactions } from '../../journal/inspect.js';
import type { RecoveryReport } from '../../recover.js';
import { runTypeScript, temporaryDirectory } from '../environment.js';
import type { RunStepsConfig } from './explore.js';
import { crashStateScript } from './record.js';
import { kindsChild } from './kinds-child.js';
import { killSeed } from './kill-seed.js';
import { killBudget, sample } from './kill-sample.js';
import { seededRandom } from './states.js';

/**
 * One fresh world for one run of a crash child: what it runs on, where its
 * operations count, how to read its state and recover it.
 *
 * @example
 * ```ts
 * const world: KillWorld<{ journal: string; tree: string }> = {
 *   config: { journal: join(dir, 'journal'), tree: join(dir, 'tree') },
 *   roots: [dir],
 *   journalRoot: join(dir, 'journal'),
 *   state: () => treeState(join(dir, 'tree')),
 *   recover: () => recover({ root: join(dir, 'journal'), kinds }),
 *   cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
 * };
 * ```
 */
export interface KillWorld<C> {
  /** Given to the child as JSON in argv[2]. */
  config: C;
  /** Absolute directories where the child's file-system operations count as kill points (the journal's and the step's). */
  roots: string[];
  /** The journal root, read to learn whether the commit point was passed. */
  journalRoot: string;
  /** Everything the steps may touch, as a comparable value. */
  state(): unknown;
  /** Runs recover() on this world (in this process, never the killed one). */
  recover(): Promise<RecoveryReport>;
  /** Removes the world; called even when a check fails. */
  cleanup(): unknown;
  /** Checked after the recoveries: throws when the next run would not work (e.g. a stale lock). */
  afterRecovery?(): unknown;
}

/**
 * Options of {@link killAtEveryOperation}.
 *
 * @example
 * ```ts
 * const options: KillPointOptions<Config> = { name: 'users commit', script: join(import.meta.dirname, 'fixtures/crash-child.ts'), arrange, traced: ['useradd'] };
 * ```
 */
export interface KillPointOptions<C> {
  /** A label for the report. */
  name: string;
  /** The crash child (TypeScript, see `runTypeScript`): runs one transaction on `config` and exits 0 (default: the explorer's run-steps child, whose config is a {@link RunStepsConfig}). */
  script?: string;
  /** Working directory of the child (default: the workspace root). */
  cwd?: string;
  /** Makes a fresh world; called once per run. */
  arrange(): KillWorld<C> | Promise<KillWorld<C>>;
  /** Programs (basenames) also killed inside, before each of their file-changing system calls, through strace. */
  traced?: string[];
  /**
   * More system calls that are kill points inside the `traced` programs, beside the file-changing ones:
   * e.g. `['sendmsg']` for a D-Bus client such as `loginctl` or `systemctl`, whose change is a message
   * to a service rather than a file it writes itself.
   */
  tracedSyscalls?: string[];
  /** Runs only the kill points this accepts (e.g. every rename inside one command): a fixed set for a regression test. */
  only?: (point: KillPoint) => boolean;
  /** Kill points run at most; beyond, a seeded sample (default 12; UNWIND_KILL_POINTS overrides it unless `only` is given; `0` means all). */
  budget?: number;
  /** The sampling seed (default: UNWIND_KILL_SEED, else 20261203 so that a test gate is repeatable; UNWIND_KILL_SEED=random draws one; always printed). */
  seed?: number;
  /** Milliseconds before a child that never ends is killed (default 60 000). */
  childTimeoutMs?: number;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
}

/**
 * A place a child can be killed: right after its N-th counted operation, or
 * inside a traced command, before the WHEN-th call of a system call.
 *
 * @example
 * ```ts
 * const point: KillPoint = { at: 12, label: 'after 12: renameSync /tmp/x/a.tmp -> /tmp/x/a' };
 * ```
 */
export type KillPoint =
  | { at: number; label: string }
  | { command: number; syscall: string; when: number; label: string };

/**
 * A kill point whose recovery did not give the expected state.
 *
 * @example
 * ```ts
 * for (const f of report.failures) console.error(`${f.point}: ${f.problem}\n  ${f.differences.join('\n  ')}`);
 * ```
 */
export interface KillFailure {
  /** The kill point (or the random kill) that failed. */
  point: string;
  /** What the child said it was doing when it died, when it did. */
  killed?: string;
  /** The state recovery had to give. */
  expected: 'before' | 'after';
  /** What went wrong. */
  problem: string;
  /** Where the recovered state differs from the expected one. */
  differences: string[];
}

/**
 * What {@link killAtEveryOperation} found.
 *
 * @example
 * ```ts
 * const report: KillPointReport = await killAtEveryOperation(options);
 * expect(report.failures).toEqual([]);
 * ```
 */
export interface KillPointReport {
  /** The label of the run. */
  name: string;
  /** The sampling seed (UNWIND_KILL_SEED replays it). */
  seed: number;
  /** Counted operations of a whole run: file-system calls under the roots, and command ends. */
  operations: number;
  /** Commands run, and kill points found inside the traced ones. */
  commands: number;
  insidePoints: number;
  /** Kill points run (all, or the sample), how many passed the commit point, and every failure. */
  checked: KillPoint[];
  /** How many of the kills left a journal past its commit point. */
  afterCommitPoint: number;
  /** Points this run did not reach (it made fewer such operations than the counting run): the transaction ran to its end, and its state was checked as such. */
  unreached: KillPoint[];
  failures: KillFailure[];
}

/** File-changing calls of a strace log line: opens for writing, writes to files, and every call of the others (and of the `extra` ones). */
function changesFiles(syscall: string, args: string, extra: readonly string[]): boolean {
  if (extra.includes(syscall)) return true;
  if (syscall === 'open' || syscall === 'openat') return /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(args);
  if (syscall.startsWith('write') || syscall.startsWith('pwrite')) return !/^[012],/.test(args);
  return true;
}

/**
 * The kill points inside one traced command, from its strace log of the
 * counting run: one before each file-changing call of the command's own
 * process that succeeded. (strace counts calls per process and per system
 * call, so `when` is the call's number among the same-named calls of that
 * process; calls of processes it forks are not kill points.)
 */
export function pointsInsideCommand(command: number, label: string, log: string, extra: readonly string[] = []): KillPoint[] {
  const points: KillPoint[] = [];
  const seen = new Map<string, number>();
  let main: string | undefined;
  for (const line of log.split('\n')) {
    const call = /^(\d+)\s+([a-z0-9_]+)\((.*)$/.exec(line);
    if (!call) continue;
    const [, pid, syscall, rest] = call as unknown as [string, string, string, string];
    main ??= pid;
    if (pid !== main) continue;
    const when = (seen.get(syscall) ?? 0) + 1;
    seen.set(syscall, when);
    if (/\)\s+=\s+-1 /.test(rest) || !changesFiles(syscall, rest, extra)) continue;
    points.push({ command, syscall, when, label: `inside ${label}, before ${syscall} call ${when}: ${syscall}(${rest.slice(0, 80)}` });
  }
  return points;
}

/** Up to ten lines saying where two states differ: the path of each differing value, and for text its first differing line. */
export function differences(expected: unknown, found: unknown, path = '', lines: string[] = []): string[] {
  if (lines.length >= 10 || isDeepStrictEqual(expected, found)) return lines;
  const show = (value: unknown) => JSON.stringify(value)?.slice(0, 200);
  if (typeof expected === 'string' && typeof found === 'string') {
    const a = expected.split('\n');
    const b = found.split('\n');
    const at = a.findIndex((line, i) => line !== b[i]);
    const line = at === -1 ? a.length : at;
    lines.push(`${path || '.'} line ${line + 1}: expected ${show(a[line])}, found ${show(b[line])}`);
  } else if (expected && found && typeof expected === 'object' && typeof found === 'object') {
    for (const key of new Set([...Object.keys(expected), ...Object.keys(found)])) {
      differences((expected as Record<string, unknown>)[key], (found as Record<string, unknown>)[key], `${path}/${key}`, lines);
    }
  } else lines.push(`${path || '.'}: expected ${show(expected)}, found ${show(found)}`);
  return lines;
}

/** The environment that tells kill-preload.ts what to count and where to kill. */
export function killEnvironment(world: KillWorld<unknown>, reportDirectory: string, traced: readonly string[], point?: KillPoint, gate?: string, tracedSyscalls: readonly string[] = []): NodeJS.ProcessEnv {
  return {
    ...process.env,
    UNWIND_KILL_ROOTS: world.roots.join('\n'),
    UNWIND_KILL_REPORT: reportDirectory,
    UNWIND_KILL_TRACED: traced.join(','),
    UNWIND_KILL_TRACED_SYSCALLS: tracedSyscalls.join(','),
    ...(gate ? { UNWIND_KILL_GATE: gate } : {}),
    ...(point && 'at' in point ? { UNWIND_KILL_AT: String(point.at) } : {}),
    ...(point && 'command' in point ? { UNWIND_KILL_COMMAND: String(point.command), UNWIND_KILL_SYSCALL: point.syscall, UNWIND_KILL_WHEN: String(point.when) } : {}),
  };
}

/**
 * Kills a crash child at every mutating operation of its transaction, in
 * turn: a counting run first learns the operations (each file-system call
 * under the world's roots, each command's end, and — for `traced` programs —
 * each file-changing system call inside the command, through strace); then
 * one run per kill point (all of them, or a seeded sample of `budget`), each
 * SIGKILLed right there, followed by recover() in this process and the check
 * that the state is exactly the before-state — or the after-state once the
 * commit point is in the journal — and that a second recover() finishes and
 * changes nothing.
 *
 * @example
 * ```ts
 * const report = await killAtEveryOperation({ name: 'files', script: child, arrange, budget: 20 });
 * expect(report.failures).toEqual([]);
 * expect(report.checked.length).toBeGreaterThan(10);
 * ```
 */
export async function killAtEveryOperation<C>(options: KillPointOptions<C>): Promise<KillPointReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const seed = killSeed(options.seed);
  // UNWIND_KILL_POINTS overrides the budget of a sampled run (not of a fixed set chosen by `only`).
  const budget = options.only ? options.budget ?? 12 : killBudget(options.budget ?? 12);
  const traced = options.traced ?? [];
  const tracedSyscalls = options.tracedSyscalls ?? [];
  const preload = pathToFileURL(crashStateScript('kill-preload')).href;
  const reports = temporaryDirectory('unwind-kill-points-');
  const run = (world: KillWorld<C>, directory: string, point?: KillPoint) => {
    fs.mkdirSync(directory, { recursive: true });
    return runTypeScript(options.script ?? kindsChild('run-steps', (world.config as RunStepsConfig).kindsModule), [JSON.stringify(world.config)], {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdout: 'ignore',
      killAfterMs: options.childTimeoutMs ?? 60_000,
      imports: [preload],
      env: killEnvironment(world as KillWorld<unknown>, directory, traced, point, undefined, tracedSyscalls),
    });
  };
  try {
    // The counting run: every operation, and the after-state of a whole run.
    const world = await options.arrange();
    let after: unknown;
    const points: KillPoint[] = [];
    let commands = 0;
    try {
      const counting = join(reports.path, 'count');
      const child = await run(world, counting);
      if (child.code !== 0) throw new Error(`the counting run of ${options.name} ended with ${child.signal ?? child.code}: ${child.stderr}`);
      after = await world.state();
      const lines = fs.readFileSync(join(counting, 'operations.jsonl'), 'utf8').split('\n').filter(Boolean);
      for (const line of lines) {
        const entry = JSON.parse(line) as { operation?: number; command?: number; traced?: boolean; label: string };
        if (entry.operation !== undefined) points.push({ at: entry.operation, label: `after ${entry.operation}: ${entry.label}` });
        if (entry.command !== undefined) {
          commands++;
          if (entry.traced) points.push(...pointsInsideCommand(entry.command, entry.label, fs.readFileSync(join(counting, `command-${entry.command}.strace`), 'utf8'), tracedSyscalls));
        }
      }
    } finally {
      await world.cleanup();
    }
    const operations = points.filter((p) => 'at' in p).length;
    const insidePoints = points.length - operations;
    // UNWIND_KILL_ONLY=text runs only the points whose label holds the text (to replay one failure).
    const only = process.env.UNWIND_KILL_ONLY;
    const candidates = points.filter((p) => (options.only ? options.only(p) : true) && (only ? p.label.includes(only) : true));
    const chosen = budget > 0 && candidates.length > budget ? stratifiedSample(candidates, budget, seededRandom(seed)) : candidates;
    log(`kill points [${options.name}]: ${operations} operations (${commands} commands), ${insidePoints} points inside traced commands; running ${chosen.length} of ${points.length} (seed ${seed}; UNWIND_KILL_POINTS=0 runs all, UNWIND_KILL_ONLY=text those labelled so)`);

    const failures: KillFailure[] = [];
    let afterCommitPoint = 0;
    const unreached: KillPoint[] = [];
    for (const [index, point] of chosen.entries()) {
      let killed: string | undefined;
      let expected: 'before' | 'after' = 'before';
      const fail = (problem: string, diff: string[] = []) => {
        // Said at once too: a run of every point can take an hour, and its report comes only at the end.
        log(`kill points [${options.name}]: FAILED after the kill ${point.label.slice(0, 160)}: ${problem.slice(0, 300)} ${diff.join('; ').slice(0, 500)}`);
        failures.push({ point: point.label, ...(killed ? { killed } : {}), expected, problem, differences: diff });
      };
      let w: KillWorld<C> | undefined;
      try {
        w = await options.arrange();
        const before = await w.state();
        const directory = join(reports.path, `run-${index}`);
        const child = await run(w, directory, point);
        const killedFile = join(directory, 'killed.txt');
        killed = fs.existsSync(killedFile) ? fs.readFileSync(killedFile, 'utf8') : undefined;
        const passed = (listTransactions(w.journalRoot)[0]?.state?.records ?? []).some((r) => r.kind === 'commit-point');
        if (passed) afterCommitPoint++;
        expected = passed ? 'after' : 'before';
        if (child.code === 0 && killed === undefined) {
          // This run made fewer such operations than the counting run (a live manager's answers vary:
          // systemctl sends more or fewer messages while it waits for a job, an undo re-reads a state), so
          // it ran to the end. Not a kill; the world still has to be the after-state, and recovery must leave it so.
          unreached.push(point);
          log(`kill points [${options.name}]: not reached in this run (it made fewer such operations): ${point.label.slice(0, 160)}`);
          expected = 'after';
          for (const [problem, diff] of await recoverAndCheck(w as KillWorld<unknown>, after, 'after')) fail(problem, diff);
          continue;
        }
        if (child.signal !== 'SIGKILL' || killed === undefined) {
          fail(`the child was not killed there (ended with ${child.signal ?? child.code}): ${child.stderr.slice(-500)}`);
          continue;
        }
        for (const [problem, diff] of await recoverAndCheck(w as KillWorld<unknown>, passed ? after : before, expected)) fail(problem, diff);
      } catch (error) {
        // A world that cannot be set up, or whose state cannot be read after the kill, fails this point; the others still run.
        fail(`${w ? 'the world' : 'arranging the world'} failed: ${(error as Error).message}`);
      } finally {
        try {
          await w?.cleanup();
        } catch (error) {
          fail(`cleaning the world up failed: ${(error as Error).message}`);
        }
      }
    }
    log(`kill points [${options.name}]: ${chosen.length - unreached.length} killed and recovered, ${afterCommitPoint} past the commit point, ${unreached.length} not reached, ${failures.length} failures (seed ${seed})`);
    return { name: options.name, seed, operations, commands, insidePoints, checked: chosen, afterCommitPoint, unreached, failures };
  } finally {
    reports.remove();
  }
}

/**
 * After a kill: recover() the world, compare its state with `target`, recover() again and expect no
 * change, then run the world's afterRecovery check. Returns each problem with its differences.
 */
export async function recoverAndCheck(w: KillWorld<unknown>, target: unknown, expected: 'before' | 'after'): Promise<Array<[string, string[]]>> {
  const problems: Array<[string, string[]]> = [];
  const first = await w.recover().catch((error: Error) => error);
  if (first instanceof Error || !first.ok) {
    return [[`recover() did not finish: ${first instanceof Error ? first.message : JSON.stringify(first.transactions.map((t) => ({ result: t.result, error: t.error?.message })))}`, []]];
  }
  const recovered = await w.state();
  if (!isDeepStrictEqual(recovered, target)) problems.push([`recover() left neither state: not the ${expected}-state`, differences(target, recovered)]);
  const second = await w.recover().catch((error: Error) => error);
  if (second instanceof Error || !second.ok) problems.push([`a second recover() did not finish: ${second instanceof Error ? second.message : 'not ok'}`, []]);
  else {
    const again = await w.state();
    if (!isDeepStrictEqual(again, recovered)) problems.push(['a second recover() changed the state', differences(recovered, again)]);
  }
  try {
    await w.afterRecovery?.();
  } catch (error) {
    problems.push([`after recovery, the next run fails: ${(error as Error).message}`, []]);
  }
  return problems;
}

/** `count` points: half from the operations of the process, half from inside the commands (the rest from the other when one has too few). */
function stratifiedSample(points: readonly KillPoint[], count: number, random: () => number): KillPoint[] {
  const outside = points.filter((p) => 'at' in p);
  const inside = points.filter((p) => 'command' in p);
  const fromInside = Math.min(inside.length, Math.max(Math.ceil(count / 2), count - outside.length));
  const picked = new Set([...sample(outside, count - fromInside, random), ...sample(inside, fromInside, random)]);
  return points.filter((p) => picked.has(p));
}
