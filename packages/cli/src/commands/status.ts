import { listTransactions, readLock, type LockHolder, type TransactionListing } from '@unwind/core';
import { classify, recoveryText, stepState, type TransactionClass } from '../describe.js';
import { EXIT } from '../errors.js';
import { formatDuration, plural } from '@unwind/progress';
import { errorLine, printable, printableData } from '../terminal-text.js';
import { checkRoot, resolveRoot } from '../root.js';
import type { Styler } from '@unwind/progress';
import { printJson, println, type CommandIO } from './context.js';

/** Options of `unwind status`. */
export interface StatusOptions {
  root?: string;
  all?: boolean;
  json?: boolean;
}

const FINISHED: ReadonlySet<TransactionClass> = new Set(['committed', 'rolled-back']);

/**
 * `unwind status`: unfinished and stuck transactions under a journal root
 * (finished ones too with `--all`), and who holds the lock. Exit code 0, or
 * 4 when the root cannot be read.
 */
export async function statusCommand(options: StatusOptions, io: CommandIO): Promise<number> {
  const root = resolveRoot(options.root, io.env, io.cwd);
  const exists = checkRoot(root);
  const listings = exists ? listTransactions(root) : [];
  const lock = exists ? readLock(root) : undefined;
  const now = io.now();
  const rows = listings.map((listing) => ({ listing, class: classify(listing, lock) }));
  const shown = rows.filter((r) => options.all || !FINISHED.has(r.class));

  if (options.json) {
    printJson(io.stdout, {
      root,
      exists,
      lock: lock ?? null,
      transactions: shown.map(({ listing, class: status }) => toJson(listing, status, now)),
      hiddenFinished: rows.length - shown.length,
    });
    return EXIT.ok;
  }

  const s = io.style;
  println(io.stdout, `${s.bold('Journal root')} ${root}${exists ? '' : ' (does not exist: no transaction has run here)'}`);
  println(io.stdout, `${s.bold('Lock')} ${lockText(lock, s)}`);
  if (shown.length === 0) println(io.stdout, '', rows.length === 0 ? 'No transactions.' : 'Nothing unfinished.');
  for (const { listing, class: status } of shown) {
    // Every string escaped, not only those printed as text: a planted journal's pid or step may be a string of terminal commands.
    println(io.stdout, '', ...describe(printableData(listing), status, now, s));
  }
  const counts = countBy(rows.map((r) => r.class));
  const unfinished = (counts.interrupted ?? 0) + (counts.stuck ?? 0);
  const summary: string[] = [];
  if (unfinished > 0) summary.push(`${plural(unfinished, 'transaction')} to recover: run \`unwind recover --root ${root}\``);
  if (counts.unreadable) summary.push(`${plural(counts.unreadable, 'journal')} cannot be used: recover leaves ${counts.unreadable === 1 ? 'it' : 'them'} untouched`);
  const hidden = rows.length - shown.length;
  if (hidden > 0) summary.push(`${plural(hidden, 'finished transaction')} not shown (--all shows them)`);
  if (summary.length > 0) println(io.stdout, '', ...summary);
  return EXIT.ok;
}

function lockText(lock: (LockHolder & { alive: boolean }) | undefined, s: Styler): string {
  if (!lock) return 'free';
  const who = `pid ${lock.pid} on ${printable(lock.host)} since ${printable(String(lock.acquiredAt))}${lock.purpose ? ` (${printable(lock.purpose)})` : ''}`;
  if (lock.processStart === 'torn') return `${s.yellow('stale')}: the lock file is torn; the next run takes it over`;
  if (lock.processStart === 'unreadable') return `${s.red('held')}: the lock file is no unwind's (a symlink, not a regular file, or larger than a holder can be); runs refuse to start until it is removed`;
  return lock.alive ? `${s.yellow('held')} by ${who}` : `${s.yellow('stale')}: left by ${who}, which is no longer running; the next run takes it over`;
}

const LABEL: Record<TransactionClass, (s: Styler) => string> = {
  running: (s) => s.cyan('RUNNING'),
  interrupted: (s) => s.yellow('INTERRUPTED'),
  stuck: (s) => s.red('STUCK'),
  unreadable: (s) => s.red('UNREADABLE'),
  committed: (s) => s.green('COMMITTED'),
  'rolled-back': (s) => s.blue('ROLLED BACK'),
};

function describe(listing: TransactionListing, status: TransactionClass, now: number, s: Styler): string[] {
  const state = listing.state;
  if (!state) return [`${LABEL.unreadable(s)} ${printable(listing.id)}`, `  journal: ${printable(listing.path)}`, `  error: ${errorLine(listing.error)}`];
  const lines = [`${LABEL[status](s)} ${s.bold(printable(state.name))}  ${s.dim(printable(listing.id))}`];
  // Without a whole begin record (a journal holding only a torn line) start, pid and host are unknown, not 0.
  const started = hasBegin(listing) ? `started ${formatDuration(now - state.startedAt)} ago by pid ${state.pid} on ${printable(state.host)}` : 'started: unknown (no complete begin record)';
  const last = state.records.length > 0 ? `last record ${formatDuration(now - state.lastAt)} ago` : 'last record: unknown';
  lines.push(`  ${started}; ${last}`);
  const lastStep = state.steps.at(-1);
  lines.push(`  last step: ${lastStep ? `${lastStep.index + 1}. ${printable(lastStep.description)} (${stepState(lastStep)})` : 'none (no step was started)'}`);
  if (state.rollbackReason) lines.push(`  rollback cause: ${errorLine(state.rollbackReason)}`);
  if (status === 'stuck' && state.rollbackFailed) {
    const failed = state.steps.find((x) => x.index === state.rollbackFailed![0]);
    lines.push(`  ${s.red('rollback failed')}: undo of step ${(failed?.index ?? 0) + 1} (${printable(failed?.description ?? '?')}) failed: ${errorLine(failed?.undoFailed)}`);
  }
  if (state.tornTail) lines.push('  its last record was torn by a crash and is ignored');
  if (!FINISHED.has(status)) lines.push(`  recovery would ${recoveryText(state)}${status === 'running' ? ' — but it is still running' : ''}`);
  return lines;
}

function toJson(listing: TransactionListing, status: TransactionClass, now: number) {
  if (!listing.state) return { id: listing.id, path: listing.path, status, error: listing.error };
  const { records: _records, steps, ...state } = listing.state;
  const last = steps.at(-1);
  const known = hasBegin(listing);
  return {
    ...state,
    ...(known ? {} : { name: null, pid: null, host: null, startedAt: null }),
    id: listing.id,
    path: listing.path,
    status,
    ageMs: known ? now - state.startedAt : null,
    steps: steps.length,
    lastStep: last ? { index: last.index, type: last.type, description: last.description, state: stepState(last) } : null,
  };
}

/** Whether the journal holds its begin record, the only source of start time, pid and host. */
function hasBegin(listing: TransactionListing): boolean {
  return listing.state?.records.some((record) => record.kind === 'begin') === true;
}

function countBy<T extends string>(values: T[]): Partial<Record<T, number>> {
  const out: Partial<Record<T, number>> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
