import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandRunner, type CommandSpec } from '@unwind/core';

/** A temp dir with a linger directory and a stub `loginctl` that edits it. */
export function lingerSandbox(): { root: string; lingerDir: string; loginctl: string; log: string; cleanup: () => void } {
  const root = fs.mkdtempSync(join(tmpdir(), 'unwind-linger-'));
  const lingerDir = join(root, 'linger');
  const log = join(root, 'calls.log');
  fs.mkdirSync(lingerDir);
  const loginctl = join(root, 'loginctl');
  fs.writeFileSync(
    loginctl,
    `#!/bin/sh
echo "$*" >> '${log}'
case "$1" in
  enable-linger) : > '${lingerDir}'/"$2" ;;
  disable-linger) rm -f '${lingerDir}'/"$2" ;;
  *) echo "stub loginctl: unknown verb $1" >&2; exit 1 ;;
esac
`,
    { mode: 0o755 },
  );
  return { root, lingerDir, loginctl, log, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** Why an injected command misbehaves. */
export type Fault = 'fail' | 'hang' | undefined;

/**
 * A command runner that records every argv and, when `fault` says so,
 * substitutes a stub program: one that exits 3 with a message on stderr, or
 * one that hangs past a short timeout.
 */
export function faultyExec(fault: (spec: CommandSpec, calls: string[][]) => Fault = () => undefined): { exec: CommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  const exec: CommandRunner = (spec) => {
    calls.push([...spec.argv]);
    const f = fault(spec, calls);
    // The stubs get the original argv as their arguments, so the report still names the real command.
    if (f === 'fail') return runCommand({ ...spec, argv: ['sh', '-c', 'echo "injected failure" >&2; exit 3', ...spec.argv] });
    if (f === 'hang') return runCommand({ ...spec, argv: ['sh', '-c', 'sleep 30', ...spec.argv], timeoutMs: 300, killGraceMs: 100 });
    return runCommand(spec);
  };
  return { exec, calls };
}
