import * as fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { listTransactions } from '../../journal/inspect.js';
import { runTypeScript, temporaryDirectory, type ChildOutcome } from '../environment.js';
import { killEnvironment, recoverAndCheck, type KillFailure, type KillWorld } from './kill-points.js';
import type { RunStepsConfig } from './explore.js';
import { kindsChild } from './kinds-child.js';
import { crashStateScript } from './record.js';
import { killSeed } from './kill-seed.js';
import { seededRandom } from './states.js';

/**
 * Options of {@link killAtRandomTimes}.
 *
 * @example
 * ```ts
 * const options: RandomKillOptions<Config> = { name: 'files', script: child, arrange, kills: 8 };
 * ```
 */
export interface RandomKillOptions<C> {
  /** A label for the report. */
  name: string;
  /** The crash child (TypeScript, see `runTypeScript`): runs one transaction on `config` and exits 0 (default: the explorer's run-steps child). */
  script?: string;
  /** Working directory of the child (default: the workspace root). */
  cwd?: string;
  /** Makes a fresh world; called once per run. */
  arrange(): KillWorld<C> | Promise<KillWorld<C>>;
  /**
   * How many kills must land inside the transaction (default 8). A kill that
   * lands outside (after a run faster than every measured one) is drawn
   * again, up to as many draws again: at most twice this many kills.
   */
  kills?: number;
  /** The seed of the kill times (default: UNWIND_KILL_SEED, else 20261203; UNWIND_KILL_SEED=random draws one; always printed). */
  seed?: number;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
}

/**
 * What {@link killAtRandomTimes} found.
 *
 * @example
 * ```ts
 * const report: RandomKillReport = await killAtRandomTimes(options);
 * expect(report.landedInside).toBe(report.kills);
 * ```
 */
export interface RandomKillReport {
  /** The label of the run. */
  name: string;
  /** The seed of the kill times (UNWIND_KILL_SEED replays it). */
  seed: number;
  /** The measured span of the transaction (ms), from its first changing file-system call to the child's exit: the shortest of three measuring runs and of the runs a kill came too late for. */
  spanMs: number;
  /** Kills asked for: how many were to land inside. */
  kills: number;
  /** Kills made: `kills`, and one more for each that landed outside (at most twice `kills`). */
  draws: number;
  /**
   * Kills that came while the transaction ran: after its first change under
   * a root (where the child waits at the gate) and before its last (a
   * journal's removal after its end record included), the same window the
   * kill times are drawn from; and of those, past the commit point.
   */
  landedInside: number;
  /** How many of the kills left a journal past its commit point. */
  afterCommitPoint: number;
  failures: KillFailure[];
}

/** Runs the child held at its gate (its first file-system call that may change something under a root), opens the gate, and SIGKILLs it `killAfterMs` later (never, when undefined). */
async function runGated(
  options: RandomKillOptions<unknown>, world: KillWorld<unknown>, directory: string, killAfterMs: number | undefined,
): Promise<{ child: ChildOutcome; elapsedMs: number; operations: number }> {
  const gate = join(directory, 'gate');
  fs.mkdirSync(gate, { recursive: true });
  let pid: number | undefined;
  let opened = 0;
  let timer: NodeJS.Timeout | undefined;
  const watch = setInterval(() => {
    if (opened || !fs.existsSync(join(gate, 'ready'))) return;
    fs.writeFileSync(join(gate, 'go'), '');
    opened = Date.now();
    if (killAfterMs !== undefined) timer = setTimeout(() => pid !== undefined && process.kill(pid, 'SIGKILL'), killAfterMs);
  }, 1);
  try {
    const child = await runTypeScript(options.script ?? kindsChild('run-steps', (world.config as RunStepsConfig).kindsModule), [JSON.stringify(world.config)], {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdout: 'ignore',
      killAfterMs: 120_000,
      onSpawn: (p) => (pid = p),
      imports: [pathToFileURL(crashStateScript('kill-preload')).href],
      env: killEnvironment(world, directory, [], undefined, gate),
    });
    // The span ends at the child's last change under a root (its exit handler writes that time), not when the pipes close.
    const end = fs.existsSync(join(gate, 'end')) ? Number(fs.readFileSync(join(gate, 'end'), 'utf8')) : Date.now();
    // The kill counter writes a line per change under a root as it is made (kill-counter.ts).
    const log = join(directory, 'operations.jsonl');
    const operations = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((line) => line !== '').length : 0;
    return { child, elapsedMs: opened ? end - opened : 0, operations };
  } finally {
    clearInterval(watch);
    if (timer) clearTimeout(timer);
  }
}

/**
 * Kills a crash child at random times drawn from the measured span of its
 * transaction: the child waits at its first file-system call that may
 * change something under the world's roots (where its journal begins) until told to go, so the time of
 * starting node is not part of the window; a clean run measures the span
 * from there to its last change under a root (node's exit is not part of it either); each kill comes uniformly inside its first 90% from
 * outside (SIGKILL of the process, as an operator or the OOM killer would).
 * Every kill is followed by recover() and the before/after check of
 * {@link killAtEveryOperation}. A kill that lands outside (after a run
 * faster than every measured one) is drawn again, up to twice `kills` in
 * all; the report says how many landed inside, in how many draws, and why
 * the others did not.
 *
 * @example
 * ```ts
 * const report = await killAtRandomTimes({ name: 'files', arrange, kills: 8 });
 * expect(report.failures).toEqual([]);
 * expect(report.landedInside).toBe(report.kills);
 * ```
 */
export async function killAtRandomTimes<C>(options: RandomKillOptions<C>): Promise<RandomKillReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const seed = killSeed(options.seed);
  const random = seededRandom(seed);
  const kills = options.kills ?? 8;
  const reports = temporaryDirectory('unwind-random-kills-');
  const generic = options as RandomKillOptions<unknown>;
  try {
    // Three measuring runs; the shortest span, so that a slow run (cold caches, a loaded machine) does not push kills past the end.
    let spanMs = Infinity;
    // How many changes under a root a whole run makes: a kill before the last of them landed inside.
    let allOperations = Infinity;
    let after: unknown;
    for (const run of [1, 2, 3]) {
      const world = (await options.arrange()) as KillWorld<unknown>;
      try {
        const { child, elapsedMs, operations } = await runGated(generic, world, join(reports.path, `measure-${run}`), undefined);
        if (child.code !== 0) throw new Error(`the measuring run of ${options.name} ended with ${child.signal ?? child.code}: ${child.stderr}`);
        spanMs = Math.min(spanMs, elapsedMs);
        allOperations = Math.min(allOperations, operations);
        after = await world.state();
      } finally {
        await world.cleanup();
      }
    }
    const failures: KillFailure[] = [];
    let landedInside = 0;
    let afterCommitPoint = 0;
    // Why the others did not: the run ended before its kill came, or the kill came after its last change (node's exit).
    let endedFirst = 0;
    let afterLastChange = 0;
    let draws = 0;
    // A kill outside the window is drawn again, from the span the faster run just measured: the check wants
    // `kills` kills inside, and leaving their number to chance turned a test red once in a while.
    for (let i = 0; landedInside < kills && i < kills * 2; i++) {
      draws++;
      // From the first 90% of the shortest span: a run faster still, or this process's timer late on a busy
      // machine, put a kill drawn in its last few milliseconds after the run's end (17 of 384 kills in CI logs).
      const killAfterMs = Math.floor(random() * spanMs * 0.9);
      const w = (await options.arrange()) as KillWorld<unknown>;
      try {
        const before = await w.state();
        const { child, elapsedMs, operations } = await runGated(generic, w, join(reports.path, `run-${i}`), killAfterMs);
        // A run the kill came too late for is one more measurement: on a loaded machine a measuring run
        // can take three times a later one, and kills drawn past the end land nowhere.
        if (child.code === 0 && elapsedMs > 0) spanMs = Math.min(spanMs, elapsedMs);
        const point = `kill ${i + 1} at ${killAfterMs} ms of ${Math.round(spanMs)}`;
        const state = listTransactions(w.journalRoot)[0]?.state;
        const passed = (state?.records ?? []).some((r) => r.kind === 'commit-point');
        const expected = passed ? 'after' : 'before';
        // Inside: after the transaction's first change under a root (the gate), before its last. Judged by
        // the journal's end record alone, a kill drawn into the journal's removal after it counted as outside,
        // and tests whose transactions end with much removal (a snapshot's) fell short of their share by chance.
        if (child.signal === 'SIGKILL' && (!state?.ended || operations < allOperations)) {
          landedInside++;
          if (passed) afterCommitPoint++;
        } else if (child.signal !== 'SIGKILL' && child.code !== 0) {
          failures.push({ point, expected, problem: `the child ended with ${child.code}: ${child.stderr.slice(-500)}`, differences: [] });
          continue;
        } else if (child.signal === 'SIGKILL') afterLastChange++;
        else endedFirst++;
        if (process.env.UNWIND_KILL_DEBUG) log(`${point}: ${child.signal ?? child.code}, journal ${state === undefined ? 'absent' : state.ended ? `ended ${state.ended}` : `open, ${state.records.length} records`}`);
        for (const [problem, diff] of await recoverAndCheck(w, passed ? after : before, expected)) failures.push({ point, expected, problem, differences: diff });
      } finally {
        await w.cleanup();
      }
    }
    const outside = draws > landedInside ? `; drawn again: ${endedFirst} after the run ended, ${afterLastChange} after its last change` : '';
    log(`random kills [${options.name}]: span ${Math.round(spanMs)} ms, ${landedInside} of ${kills} kills landed inside the transaction in ${draws} draws (${afterCommitPoint} past the commit point${outside}), ${failures.length} failures (seed ${seed})`);
    return { name: options.name, seed, spanMs, kills, draws, landedInside, afterCommitPoint, failures };
  } finally {
    reports.remove();
  }
}
