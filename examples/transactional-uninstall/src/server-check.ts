import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { UnwindError, defineStep, validateAbsolutePath } from '@unwind/core';

/**
 * The file in which the application's server writes its pid while it runs.
 *
 * @example
 * ```ts
 * fs.readFileSync(join(stateDir, SERVER_PID_FILE), 'utf8'); // '81234\n'
 * ```
 */
export const SERVER_PID_FILE = 'server.pid';

/**
 * The application's server is running: its state directory has a live
 * writer, so nothing in it may be staged. Code SERVER_RUNNING.
 *
 * @example
 * ```ts
 * if (error instanceof ServerRunningError) console.error(`stop pid ${error.context.pid} first`);
 * ```
 */
export class ServerRunningError extends UnwindError<'SERVER_RUNNING'> {
  constructor(pidFile: string, pid: number, command: string) {
    super('SERVER_RUNNING', `the server is running (pid ${pid}: ${command}, from ${pidFile}); stop it first — nothing was changed`, { context: { pidFile, pid, command } });
  }
}

/** True when a process with this pid exists (EPERM: it exists, as another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process's command line, as `ps` would show it; its name when the command line is empty (a kernel thread, a zombie). */
function commandOf(pid: number): string {
  try {
    const line = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return line || `[${fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}]`;
  } catch {
    return '(command unknown)';
  }
}

/**
 * The running server named by `<stateDir>/server.pid`, or undefined when the
 * file is missing, holds no pid, or names a process that no longer exists (a
 * pid file a crash left behind).
 *
 * @example
 * ```ts
 * const server = runningServer('/home/alice/.memtomem');
 * if (server) console.error(`pid ${server.pid}: ${server.command}`);
 * ```
 */
export function runningServer(stateDir: string): { pidFile: string; pid: number; command: string } | undefined {
  const pidFile = join(stateDir, SERVER_PID_FILE);
  let text: string;
  try {
    text = fs.readFileSync(pidFile, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(pid) || pid <= 1 || !alive(pid)) return undefined;
  return { pidFile, pid, command: commandOf(pid) };
}

/**
 * A read-only first step: its `prepare` refuses with {@link ServerRunningError}
 * while the pid in `server.pid` is alive, so the check runs under the
 * journal's lock right before the first group is staged, and a refusal
 * there changes nothing. Nothing to do or undo.
 *
 * @example
 * ```ts
 * tx.add(serverStopped({ stateDir: '/home/alice/.memtomem' }));
 * ```
 */
export const serverStopped = defineStep({
  type: 'memtomem.serverStopped',
  package: '@unwind/example-transactional-uninstall',
  args: t.type({ stateDir: t.string }),
  before: t.null,
  validate: (a) => validateAbsolutePath(a.stateDir, { what: 'state directory' }),
  describe: (a) => `check that no server named by ${join(a.stateDir, SERVER_PID_FILE)} is running`,
  prepare: async (a) => {
    const server = runningServer(a.stateDir);
    if (server) throw new ServerRunningError(server.pidFile, server.pid, server.command);
    return null;
  },
  do: async () => {},
  undo: async () => {},
});
