import type { EventListener, SerializedError, TransactionEvent } from '@unwind/core';
import { errorLine, formatDuration, plural } from './format.js';
import { printableData } from './printable.js';
import { shouldColor, styler, type Output, type Styler } from './style.js';

/**
 * Options of {@link renderProgress}.
 *
 * @example
 * ```ts
 * renderProgress(tx, { stream: process.stderr, isTTY: false }); // one line per transition, e.g. in a CI log
 * ```
 */
export interface ProgressOptions {
  /** Where to draw. Default `process.stderr`, so stdout stays free for the program's own output. */
  stream?: Output;
  /** Redraw in place (a terminal) or write one line per transition (a pipe, a log file). Default `stream.isTTY`. */
  isTTY?: boolean;
  /** Colour. Default: on a terminal, unless NO_COLOR is set (FORCE_COLOR turns it on elsewhere). */
  color?: boolean;
  /** Terminal width; longer lines are shortened so the in-place redraw stays exact. Default `stream.columns` or 80. */
  columns?: number;
}

/**
 * Anything with a `tx.on(listener)` method: a Transaction, or an event emitter of your own.
 *
 * @example
 * ```ts
 * const listeners = new Set<EventListener>();
 * const source: EventSource = { on: (l) => { listeners.add(l); return () => listeners.delete(l); } };
 * ```
 */
export interface EventSource {
  /** Subscribes a listener; may return an unsubscribe function. */
  on(listener: EventListener): unknown;
}

/**
 * The listener {@link renderProgress} returns: pass it to `tx.on` or `onEvent`.
 *
 * @example
 * ```ts
 * const progress = renderProgress(tx);
 * await tx.run();
 * progress.unsubscribe();
 * ```
 */
export interface ProgressRenderer extends EventListener {
  /** Stops listening, when {@link renderProgress} subscribed itself to a source. */
  unsubscribe(): void;
}

type StepState = 'preparing' | 'running' | 'verifying' | 'done' | 'failed' | 'undoing' | 'undone' | 'undo-failed' | 'committing' | 'committed' | 'commit-failed';

interface StepLine {
  index: number;
  description: string;
  state: StepState;
  durationMs?: number;
  attempts: number;
  undoMs?: number;
  error?: SerializedError;
}

const ICON: Record<StepState, (s: Styler) => string> = {
  preparing: (s) => s.dim('…'),
  running: (s) => s.cyan('▸'),
  verifying: (s) => s.cyan('▸'),
  done: (s) => s.green('✔'),
  failed: (s) => s.red('✖'),
  undoing: (s) => s.yellow('↺'),
  undone: (s) => s.blue('↺'),
  'undo-failed': (s) => s.red('✖'),
  committing: (s) => s.cyan('▸'),
  committed: (s) => s.green('✔'),
  'commit-failed': (s) => s.red('✖'),
};

/**
 * A progress display for a transaction's events: each step with its live
 * state (running, done, failed, undone …), durations, and a final summary.
 * On a terminal it redraws its block in place with ANSI cursor movement; on a
 * pipe or a log file it writes one plain line per transition. It never throws
 * and never colours when NO_COLOR is set. Every string it prints from an
 * event (a transaction's name, step descriptions, error messages, a command's
 * stderr) is escaped (`printable`): a control character in a file name another
 * user chose shows as `\x1b`, the terminal never runs it.
 *
 * Pass a transaction (or any `{ on(listener) }`) to subscribe at once, or
 * call it with options only and hand the listener to `tx.on` / `onEvent`.
 *
 * @example
 * ```ts
 * import { renderProgress } from '@unwind/cli';
 * const tx = transaction('install app', { journal: fileJournal({ root }) });
 * renderProgress(tx, { stream: process.stderr });
 * // or: tx.on(renderProgress({ stream: process.stderr, isTTY: false }));
 * const outcome = await tx.run();
 * ```
 */
export function renderProgress(options?: ProgressOptions): ProgressRenderer;
export function renderProgress(source: EventSource, options?: ProgressOptions): ProgressRenderer;
export function renderProgress(sourceOrOptions?: EventSource | ProgressOptions, maybeOptions: ProgressOptions = {}): ProgressRenderer {
  const source = sourceOrOptions && typeof (sourceOrOptions as EventSource).on === 'function' ? (sourceOrOptions as EventSource) : undefined;
  const options = (source ? maybeOptions : (sourceOrOptions as ProgressOptions | undefined)) ?? {};
  const stream = options.stream ?? process.stderr;
  const tty = options.isTTY ?? stream.isTTY === true;
  const style = styler(options.color ?? shouldColor({ write: () => true, isTTY: tty }));
  const columns = Math.max(20, options.columns ?? stream.columns ?? 80);
  const view = new ProgressView(style, tty ? (text) => stream.write(text) : undefined, tty ? undefined : (line) => stream.write(`${line}\n`), columns);
  let unsubscribe: () => void = () => {};
  const listener = ((event: TransactionEvent) => {
    try {
      view.handle(printableEvent(event));
    } catch {
      // A progress display must never break a transaction.
    }
  }) as ProgressRenderer;
  listener.unsubscribe = () => unsubscribe();
  if (source) {
    const off = source.on(listener);
    if (typeof off === 'function') unsubscribe = off as () => void;
  }
  return listener;
}

/**
 * The event with every string in it {@link printableData}: a description, a
 * name, a path or a number that is not one may hold text another user chose
 * (a file name) or a planted journal's. Its errors stay as they are:
 * {@link errorLine} escapes them after taking a command's stderr apart into lines.
 */
function printableEvent(event: TransactionEvent): TransactionEvent {
  return Object.fromEntries(Object.entries(event).map(([key, value]) => [key, key === 'error' || key === 'reason' ? value : printableData(value)])) as TransactionEvent;
}

class ProgressView {
  private name = '';
  private total: number | undefined;
  private readonly steps = new Map<number, StepLine>();
  private notes: string[] = [];
  private rollbackCause: SerializedError | undefined;
  private failed: StepLine | undefined;
  private drawn = 0;

  constructor(
    private readonly s: Styler,
    private readonly draw: ((text: string) => void) | undefined,
    private readonly line: ((line: string) => void) | undefined,
    private readonly columns: number,
  ) {}

  handle(event: TransactionEvent): void {
    const step = 'step' in event ? this.stepOf(event.step, 'description' in event ? event.description : undefined) : undefined;
    switch (event.type) {
      case 'transaction:begin':
        this.steps.clear();
        this.notes = [];
        this.rollbackCause = undefined;
        this.failed = undefined;
        this.drawn = 0;
        this.name = event.name;
        this.total = event.steps;
        this.emit(`${event.name}: ${plural(event.steps, 'step')}`);
        break;
      case 'step:prepare':
        step!.state = 'preparing';
        this.redraw();
        break;
      case 'step:start':
        this.change(step!, { state: 'running' }, 'running');
        break;
      case 'step:retry':
        if (event.phase === 'do') step!.attempts = event.attempt + 1;
        this.emit(this.plain(step!, 'try failed', `${event.phase} attempt ${event.attempt} failed: ${errorLine(event.error)}`));
        break;
      case 'step:done':
        Object.assign(step!, { state: 'verifying', durationMs: event.durationMs, attempts: event.attempts });
        this.redraw();
        break;
      case 'step:verified':
        this.change(step!, { state: 'done' }, 'done', this.took(step!));
        break;
      case 'step:failed':
        this.failed = step;
        this.change(step!, { state: 'failed', durationMs: event.durationMs, error: event.error }, 'failed', `${formatDuration(event.durationMs)}: ${errorLine(event.error)}`);
        break;
      case 'rollback:start':
        this.rollbackCause = event.reason;
        this.emit(`rolling back ${plural(event.steps, 'step')}, newest first: ${errorLine(event.reason)}`);
        break;
      case 'undo:start':
        this.change(step!, { state: 'undoing' }, 'undoing');
        break;
      case 'undo:done':
        this.change(step!, { state: 'undone', undoMs: event.durationMs }, 'undone', formatDuration(event.durationMs));
        break;
      case 'undo:failed':
        this.change(step!, { state: 'undo-failed', error: event.error }, 'undo failed', errorLine(event.error));
        break;
      case 'commit-point':
        this.redraw();
        break;
      case 'commit:start':
        step!.state = 'committing';
        this.redraw();
        break;
      case 'commit:done':
        this.change(step!, { state: 'committed' }, 'committed');
        break;
      case 'commit:failed':
        this.change(step!, { state: 'commit-failed', error: event.error }, 'commit failed', errorLine(event.error));
        break;
      case 'signal':
        this.notes.push(event.count === 1 ? `${event.signal}: cancelling, rolling back` : `${event.signal} again: the rollback goes on`);
        this.emit(this.notes.at(-1)!);
        break;
      case 'lock:stale':
        // Shown before `transaction:begin`, which clears the notes: print it now.
        this.emit(`took over the stale lock ${event.path} of dead process ${event.holder.pid} (acquired ${event.holder.acquiredAt}); recovery handles what it left`);
        break;
      case 'transaction:end':
        this.finish(event.status, event.durationMs);
        break;
    }
  }

  private stepOf(index: number, description: string | undefined): StepLine {
    let step = this.steps.get(index);
    if (!step) {
      step = { index, description: description ?? `step ${index + 1}`, state: 'preparing', attempts: 1 };
      this.steps.set(index, step);
    } else if (description) step.description = description;
    return step;
  }

  private took(step: StepLine): string {
    return `${formatDuration(step.durationMs ?? 0)}${step.attempts > 1 ? `, ${step.attempts} attempts` : ''}`;
  }

  /** A step's transition: its new state (and what the event adds to it), shown as the pipe line `word (detail)` or by a redraw. */
  private change(step: StepLine, to: Pick<StepLine, 'state'> & Partial<StepLine>, word: string, detail?: string): void {
    Object.assign(step, to);
    this.emit(this.plain(step, word, detail));
  }

  /** A pipe line: `[2/5] done      write /etc/app.conf (12 ms)`. */
  private plain(step: StepLine, word: string, detail?: string): string {
    const position = this.total === undefined ? `[${step.index + 1}]` : `[${step.index + 1}/${this.total}]`;
    return `${position} ${word.padEnd(13)} ${step.description}${detail ? ` (${detail})` : ''}`;
  }

  /** On a pipe: write the line. On a terminal: redraw the block instead. */
  private emit(line: string): void {
    if (this.line) this.line(line);
    else this.redraw();
  }

  private redraw(final: string[] = []): void {
    if (!this.draw) return;
    const lines = [...this.frame(), ...final];
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    this.draw(`${up}\x1b[J${lines.map((l) => `${l}\n`).join('')}`);
    this.drawn = lines.length;
  }

  private frame(): string[] {
    const s = this.s;
    if (this.total === undefined && this.steps.size === 0) return [];
    const header = `${s.bold(this.name)} ${s.dim(`(${plural(this.total ?? this.steps.size, 'step')})`)}${this.rollbackCause ? ` ${s.yellow(`rolling back: ${this.fit(errorLine(this.rollbackCause), 20)}`)}` : ''}`;
    const lines = [header];
    for (const step of [...this.steps.values()].sort((a, b) => a.index - b.index)) lines.push(this.stepLine(step));
    const waiting = (this.total ?? 0) - this.steps.size;
    if (waiting > 0 && !this.rollbackCause) lines.push(`  ${s.dim(`· ${plural(waiting, 'more step')}`)}`);
    for (const note of this.notes) lines.push(`  ${s.yellow(note)}`);
    return lines;
  }

  private stepLine(step: StepLine): string {
    const status = this.status(step);
    // Icon, spaces and a spare last column: keep every line narrower than the terminal, so redraws stay exact.
    const room = this.columns - 1 - 6;
    const descWidth = Math.min(step.description.length, Math.max(room - status.length, Math.floor(room / 2)));
    const description = this.fit(step.description, descWidth);
    const colour = step.state === 'failed' || step.state.endsWith('-failed') ? this.s.red : this.s.dim;
    return `  ${ICON[step.state](this.s)} ${description}  ${colour(this.fit(status, room - description.length))}`;
  }

  private status(step: StepLine): string {
    switch (step.state) {
      case 'preparing':
        return 'preparing';
      case 'running':
        return step.attempts > 1 ? `running, attempt ${step.attempts}` : 'running';
      case 'verifying':
        return `verifying (${this.took(step)})`;
      case 'done':
        return this.took(step);
      case 'failed':
        return `failed after ${formatDuration(step.durationMs ?? 0)}: ${errorLine(step.error)}`;
      case 'undoing':
        return 'undoing';
      case 'undone':
        return `${step === this.failed ? 'failed, then ' : ''}undone (${formatDuration(step.undoMs ?? 0)})`;
      case 'undo-failed':
        return `undo failed: ${errorLine(step.error)}`;
      case 'committing':
        return `${this.took(step)}, committing`;
      case 'committed':
        return `${this.took(step)}, committed`;
      case 'commit-failed':
        return `commit action failed: ${errorLine(step.error)}`;
    }
  }

  private fit(text: string, width: number): string {
    const flat = text.replace(/\s*\n\s*/g, ' ');
    return flat.length <= width ? flat : `${flat.slice(0, Math.max(1, width - 1))}…`;
  }

  private finish(status: string, durationMs: number): void {
    const steps = [...this.steps.values()];
    const took = formatDuration(durationMs);
    const failed = this.failed;
    const undone = steps.filter((x) => x.state === 'undone').length;
    const stuck = steps.find((x) => x.state === 'undo-failed');
    const s = this.s;
    let summary: string;
    switch (status) {
      case 'committed': {
        const pending = steps.filter((x) => x.state === 'commit-failed').length;
        summary = pending === 0 ? s.green(`✔ committed: ${plural(steps.length, 'step')} done in ${took}`) : s.yellow(`✔ committed in ${took}, but ${plural(pending, 'commit action')} did not finish: run \`unwind recover\``);
        break;
      }
      case 'rolled-back':
        summary = s.blue(`↺ rolled back in ${took}: ${failed ? `step ${failed.index + 1} (${failed.description}) failed` : `cancelled (${errorLine(this.rollbackCause)})`}; ${plural(undone, 'step')} undone, the machine is as it was before`);
        break;
      case 'rollback-failed':
        summary = s.red(`✖ rollback failed in ${took}: undoing step ${(stuck?.index ?? 0) + 1} (${stuck?.description ?? '?'}) failed; the journal is kept: fix the cause, then run \`unwind recover\``);
        break;
      case 'refused':
        summary = s.yellow(`✖ refused in ${took}: nothing was changed`);
        break;
      default:
        summary = `${status} in ${took}`;
    }
    if (this.line) this.line(summary);
    else this.redraw([summary]);
    this.drawn = 0; // the finished block stays; later output goes below it
  }
}
