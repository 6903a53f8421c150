import * as fs from 'node:fs';

/**
 * A process as /proc shows it: its pid and its start time (in clock ticks
 * since boot), which together name it even after the pid is reused.
 *
 * @example
 * ```ts
 * const sleeper: ProcessIdentity = { pid: 4242, start: startTimeOf(4242)! };
 * ```
 */
export interface ProcessIdentity {
  pid: number;
  start: string;
}

/** pid → [parent pid, start time] of every process /proc lists now. */
function processTable(): Map<number, [number, string]> {
  const table = new Map<number, [number, string]>();
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return table; // no /proc: no descendants can be found
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields) table.set(Number(name), [Number(fields[1]), fields[19]!]);
  }
  return table;
}

/** The fields of /proc/PID/stat after the command name (state first), or undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.length > 19 ? fields : undefined;
}

/**
 * Every living descendant of the processes `roots` (children, their
 * children, and so on), whatever process group or session it moved to: a
 * `setsid` leaves the group a timeout signals, not its parent. A root whose
 * pid names another process by now (another start time) or none is not
 * walked from: the children of a process that took over a reused pid are
 * not ours. A process whose parent had already exited was handed to init
 * (or a subreaper) and is not found: nothing in /proc links it to `roots`
 * any more.
 *
 * @example
 * ```ts
 * const leader = { pid: child.pid, start: startTimeOf(child.pid) ?? '' };
 * const escaped = descendantsOf([leader]); // before the group is killed: orphans lose the link
 * signalProcesses(escaped, 'SIGKILL');
 * ```
 */
export function descendantsOf(roots: readonly ProcessIdentity[]): ProcessIdentity[] {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, [parent]] of table) {
    const list = children.get(parent);
    if (list) list.push(pid);
    else children.set(parent, [pid]);
  }
  const found: ProcessIdentity[] = [];
  const queue = roots.filter((root) => table.get(root.pid)?.[1] === root.start).map((root) => root.pid);
  const seen = new Set<number>(queue);
  // An index, not shift(): the queue is read once, front to back.
  for (let next = 0; next < queue.length; next++) {
    for (const child of children.get(queue[next]!) ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      found.push({ pid: child, start: table.get(child)![1] });
      queue.push(child);
    }
  }
  return found;
}

/**
 * Whether process `pid` still runs: it exists and is not a zombie (one that
 * exited and that nobody reaped yet).
 *
 * @example
 * ```ts
 * signalProcesses(descendants, 'SIGKILL');
 * isRunning(descendants[0]!.pid); // false once it died, reaped or not
 * ```
 */
export function isRunning(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

/**
 * The start time of process `pid` (clock ticks since boot, field 22 of
 * /proc/PID/stat), or undefined when there is no such process. With the pid,
 * it names one process: a pid the kernel gave to another process since has
 * another start time.
 *
 * @example
 * ```ts
 * const found = { pid, start: startTimeOf(pid)! };
 * signalProcesses([found], 'SIGTERM'); // only while pid is still that process
 * ```
 */
export function startTimeOf(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/**
 * Sends `signal` to each process that is still the one recorded: one whose
 * pid now names another process (same pid, another start time) is left
 * alone, as is one that is gone.
 *
 * @example
 * ```ts
 * signalProcesses(descendantsOf([pid]), 'SIGTERM');
 * ```
 */
export function signalProcesses(processes: readonly ProcessIdentity[], signal: NodeJS.Signals): void {
  for (const { pid, start } of processes) {
    if (startTimeOf(pid) !== start) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}
