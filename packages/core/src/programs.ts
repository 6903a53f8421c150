import type { CommandRunner } from './exec.js';
import { validateAbsolutePath, validateName } from './validate.js';

/**
 * A command runner that runs the configured program for a bare program name:
 * `{ loginctl: '/opt/tools/loginctl' }` makes every `['loginctl', …]` run
 * `/opt/tools/loginctl`. This is where a program path belongs: in the
 * caller's configuration, passed to both `transaction({ exec })` and
 * `recover({ exec })`. A program path is never read back from a journal —
 * whoever could write one would otherwise choose what root runs.
 *
 * @example
 * ```ts
 * const exec = withPrograms(runCommand, { loginctl: '/opt/sandbox/bin/loginctl' });
 * await recover({ root: '/var/lib/app/unwind', kinds, exec });
 * ```
 */
export function withPrograms(exec: CommandRunner, programs: Readonly<Record<string, string>>): CommandRunner {
  const table = new Map<string, string>();
  for (const [name, path] of Object.entries(programs)) {
    validateName(name, { what: 'program name' });
    table.set(name, validateAbsolutePath(path, { what: `${name} program` }));
  }
  return (spec) => {
    const [program, ...rest] = spec.argv;
    const configured = program === undefined ? undefined : table.get(program);
    return exec(configured === undefined ? spec : { ...spec, argv: [configured, ...rest] });
  };
}

/**
 * The program a step runs: the one named in its arguments while the caller's
 * own process runs it, and always the bare `name` (resolved through the
 * command runner the caller configured, see {@link withPrograms}) when the
 * arguments were read back from a journal by recovery.
 *
 * @example
 * ```ts
 * const argv = [programFor(args.loginctl, 'loginctl', ctx.phase), 'enable-linger', args.user];
 * ```
 */
export function programFor(fromArguments: string | undefined, name: string, phase: 'run' | 'recover' | 'plan'): string {
  return phase === 'recover' ? name : (fromArguments ?? name);
}
