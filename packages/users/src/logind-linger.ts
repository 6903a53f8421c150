import * as fs from 'node:fs';
import { join } from 'node:path';
import type { StepContext } from '@unwind/core';
import type { RemoveUserArgs } from './remove-user.js';

/** The linger directory systemd-logind reads. */
const LOGIND_LINGER_DIR = '/var/lib/systemd/linger';

/** Whether the step's linger file is logind's own, on a machine where systemd runs: then logind's view of it matters too. */
export function tellsLogind(a: RemoveUserArgs, linger: string): boolean {
  return a.prefix === undefined && linger === join(LOGIND_LINGER_DIR, a.name) && fs.existsSync('/run/systemd/system');
}

/**
 * Whether logind itself says the user lingers. A linger file written behind
 * logind's back (it reads the directory only at boot) is a file, not a running
 * manager: an undo that told logind would start a manager that was not there.
 */
export async function logindSaysLingering(a: RemoveUserArgs, ctx: StepContext): Promise<boolean> {
  const answer = await ctx.exec({ argv: ['loginctl', 'show-user', '-p', 'Linger', '--value', a.name], okExitCodes: [0, 1], signal: ctx.signal, timeoutMs: a.commandTimeoutMs ?? 30_000 });
  return answer.exitCode === 0 && answer.stdout.trim() === 'yes';
}
