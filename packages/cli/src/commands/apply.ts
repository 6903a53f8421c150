import { exitCodeOf, describeOutcome, type Cause, type PlanEntry } from '@unwind/core';
import { EXIT } from '../errors.js';
import { loadKinds, type LoadedKinds } from '../kinds.js';
import { plural, renderProgress } from '@unwind/progress';
import { errorLine, printable } from '../terminal-text.js';
import { resolveRoot } from '../root.js';
import { exitOnThirdSignal } from '../signal-exit.js';
import { buildTransaction } from '../apply/build.js';
import { checkTransactionFile, type CheckedFile } from '../apply/check.js';
import { readTransactionFile } from '../apply/load.js';
import { inspectRoot } from '../apply/root-state.js';
import { TransactionFileError, problemLines } from '../apply/problems.js';
import { printJson, println, type CommandIO } from './context.js';

/** Options of `unwind apply`. */
export interface ApplyOptions {
  root?: string;
  dryRun?: boolean;
  json?: boolean;
  /** Modules exporting `kinds`, registered beside the installed adapters' kinds. */
  kinds?: string[];
  /** Recover unfinished transactions on the root first (overrides the file's `recoverFirst`). */
  recoverFirst?: boolean;
}

/**
 * `unwind apply FILE`: checks a transaction file completely (every problem
 * listed, exit 4, nothing touched), then runs it as `tx.run()` would, with
 * the progress display on stderr; exit code of the outcome (0 committed,
 * 1 rolled back, 2 rollback failed, 3 lock held, 4 refused as invalid,
 * 5 unfinished transactions on the root). `--dry-run` prints the plan and
 * whether the run would be refused, with the refusal's exit code.
 */
export async function applyCommand(file: string, options: ApplyOptions, io: CommandIO): Promise<number> {
  let loaded: LoadedKinds;
  let checked: CheckedFile;
  let source = file === '-' ? 'standard input' : file;
  try {
    const parsed = await readTransactionFile(file, io.cwd, io.stdin);
    source = parsed.source;
    loaded = await loadKinds(options.kinds ?? [], io.cwd);
    checked = checkTransactionFile(parsed, loaded.kinds);
  } catch (error) {
    if (!(error instanceof TransactionFileError)) throw error;
    if (options.json) printJson(io.stdout, { file: source, ok: false, exitCode: EXIT.badInput, dryRun: options.dryRun === true, problems: error.problems });
    println(io.stderr, `unwind: error: ${error.message}:`, ...problemLines(error.problems).map((l) => `  ${printable(l)}`));
    return EXIT.badInput;
  }
  const root = resolveRoot(options.root ?? checked.file.root, io.env, io.cwd);
  if (options.dryRun) return dryRun(checked, source, root, options, io);
  const progress = renderProgress({ stream: io.stderr, ...(io.env.NO_COLOR ? { color: false } : {}) });
  const tx = buildTransaction(checked, {
    root,
    kinds: loaded.kinds,
    // Descriptions and errors (a command's stderr) reach the terminal: the progress display escapes them
    // itself, after taking a command's stderr apart at its line breaks.
    onEvent: progress,
    onThirdSignal: exitOnThirdSignal(process.stderr, `\`unwind recover --root ${root}\``),
    ...(options.recoverFirst ? { recoverFirst: true } : {}),
  });
  const outcome = await tx.run();
  const exitCode = exitCodeOf(outcome);
  if (options.json) printJson(io.stdout, { file: source, root, ok: exitCode === 0, exitCode, dryRun: false, outcome });
  else if (outcome.status === 'refused') println(io.stderr, `unwind: error: ${refusalText(outcome.cause)}`);
  else if (outcome.status !== 'committed') println(io.stdout, ...describeOutcome(outcome).split('\n').map(printable));
  return exitCode;
}

/** The refusal's line, the same for a run and a dry run. */
function refusalText(cause: Cause): string {
  if (cause.code === 'UNFINISHED_TRANSACTION') return `${printable(cause.message)}. Nothing was touched; run unwind recover first, or apply with --recover-first.`;
  return `${errorLine(cause)}. Nothing was touched.`;
}

/**
 * The plan, from the library's own `plan()`, and what the run would meet on
 * the journal root: a refusal (an unfinished transaction, a held lock, an
 * unsafe root) is said first, with the exit code the run would have.
 * Only read-only probes run; nothing, not even the journal root, is created.
 */
async function dryRun(checked: CheckedFile, source: string, root: string, options: ApplyOptions, io: CommandIO): Promise<number> {
  // plan() never locks nor begins the journal: the journal root is not even created.
  const tx = buildTransaction(checked, { root, kinds: [], handleSignals: false });
  const steps: PlanEntry[] = await tx.plan();
  const invalid = steps.some((s) => s.error);
  const state = inspectRoot(root, options.recoverFirst ?? checked.file.recoverFirst ?? false);
  // The run checks the arguments before it even takes the lock: invalid arguments win, as there.
  const exitCode = invalid ? EXIT.badInput : (state.refusal?.exitCode ?? EXIT.ok);
  if (options.json) {
    printJson(io.stdout, {
      file: source,
      root,
      ok: exitCode === EXIT.ok,
      exitCode,
      dryRun: true,
      ...(state.refusal ? { cause: state.refusal.cause } : {}),
      ...(state.wouldRecover.length > 0 ? { wouldRecover: state.wouldRecover } : {}),
      name: checked.file.name,
      steps,
    });
    return exitCode;
  }
  if (state.refusal) println(io.stderr, `unwind: error: the run would be refused: ${refusalText(state.refusal.cause)}`);
  const s = io.style;
  println(io.stdout, `${s.bold('Plan')} ${s.bold(printable(checked.file.name))}: ${steps.length} step${steps.length === 1 ? '' : 's'} on journal root ${root} (dry run: nothing is changed)`);
  if (state.wouldRecover.length > 0) println(io.stdout, `  first: recover ${plural(state.wouldRecover.length, 'unfinished transaction')} on the root (${state.wouldRecover.join(', ')}), as --recover-first asks`);
  const width = String(steps.length).length;
  for (const e of steps) {
    const change = e.error ? s.red('invalid') : e.wouldChange === true ? s.yellow('change') : e.wouldChange === false ? s.green('no change') : s.dim('may change');
    println(io.stdout, `  ${String(e.index + 1).padStart(width)}. ${printable(e.description)}${e.irreversible ? ` ${s.red('(irreversible)')}` : ''}  ${s.dim(`[${printable(e.type)}]`)}  ${change}`);
    if (e.error) println(io.stdout, `     ${' '.repeat(width)}${errorLine(e.error)}`);
  }
  return exitCode;
}
