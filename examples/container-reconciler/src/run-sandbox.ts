// `container-reconciler sandbox`: one run of the reconciler against its
// sandbox (see sandbox.ts), inside a private mount namespace so the tmpfs the
// private user manager needs never reaches the host.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UnsafeDirectoryError } from '@unwind/core';
import { printableData } from '@unwind/progress';
import { startSandboxManager } from '@unwind/core/testing/helpers';
import { DEFAULT_QUADLET_SANDBOX, runQuadletSandbox } from './quadlet-sandbox.js';
import { reconcileContainers } from './reconciler.js';
import { formatReport } from './report.js';
import { assertSandboxRoot, createSandbox, isSandbox, sandboxConfig, sandboxLayout } from './sandbox.js';

/** Set in the re-run inside the private mount namespace. */
const NAMESPACE_MARK = 'CONTAINER_RECONCILER_SANDBOX_NAMESPACE';
/** Where the sandbox is unless `--sandbox DIR` says otherwise. */
export const DEFAULT_SANDBOX = join(tmpdir(), 'unwind-example-containers');

/**
 * Runs the reconciler once against its sandbox (made on first use) and
 * returns the exit code: the run's, or 4 when the sandbox cannot be used.
 * The private user manager (and the containers' units with it) stops when
 * the command ends; the sandbox's files stay.
 *
 * @example
 * ```ts
 * process.exitCode = await runSandbox(['--sandbox', '/tmp/cr'], console.log, console.error);
 * ```
 */
export async function runSandbox(argv: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { sandbox: { type: 'string' }, settle: { type: 'string' }, json: { type: 'boolean' }, quadlet: { type: 'boolean' } }, strict: true });
  if (process.getuid?.() !== 0) {
    err(`container-reconciler sandbox: needs root (${values.quadlet ? 'to boot a throw-away machine' : 'the shadow tools on a prefix root, a tmpfs for the private user manager'}); nothing was changed`);
    return 4;
  }
  // Quadlet needs each user's own manager: a throw-away machine, which makes its own namespaces.
  if (values.quadlet) {
    const quadletRoot = resolve(values.sandbox ?? DEFAULT_QUADLET_SANDBOX);
    return refuseUnlessPrivate(quadletRoot, err) ?? runQuadletSandbox(quadletRoot, out, err);
  }
  if (process.env[NAMESPACE_MARK] !== '1') {
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, ...process.execArgv, process.argv[1]!, 'sandbox', ...argv], {
      stdio: 'inherit',
      env: { ...process.env, [NAMESPACE_MARK]: '1', UNWIND_IN_NAMESPACE: '1' },
    });
    if (r.error) err(`container-reconciler sandbox: cannot make a private mount namespace (unshare): ${r.error.message}`);
    return r.error ? 4 : (r.status ?? 1);
  }
  const root = resolve(values.sandbox ?? DEFAULT_SANDBOX);
  const unsafe = refuseUnlessPrivate(root, err);
  if (unsafe !== undefined) return unsafe;
  if (fs.readdirSync(root).length > 0 && !isSandbox(root)) {
    err(`container-reconciler sandbox: ${root} exists and is not a sandbox made by this program; nothing was changed`);
    return 4;
  }
  const layout = isSandbox(root) ? sandboxLayout(root) : createSandbox(root);
  const settle = values.settle === undefined ? 500 : Number(values.settle);
  if (!Number.isInteger(settle) || settle <= 0) {
    err(`container-reconciler sandbox: --settle needs a whole number of milliseconds, got ${JSON.stringify(values.settle)}; nothing was changed`);
    return 4;
  }
  const manager = await startSandboxManager({ ...layout.manager, log: join(root, 'manager.log') });
  try {
    const report = await reconcileContainers({ ...sandboxConfig(layout), settleMs: settle });
    out(values.json ? jsonText(report) : `${formatReport(printableData(report))}\nThe sandbox: ${root} (desired state in ${layout.desiredDir}).`);
    return report.exitCode;
  } finally {
    await manager.stop();
  }
}

/**
 * Before anything in it is read or run: the sandbox root must be private to
 * root (made so when missing). A directory another user made or can change
 * (one they left in /tmp) holds their passwd, stubs and units: refused with
 * exit 4. Undefined when it may be used.
 */
function refuseUnlessPrivate(root: string, err: (line: string) => void): number | undefined {
  try {
    assertSandboxRoot(root);
    return undefined;
  } catch (error) {
    if (!(error instanceof UnsafeDirectoryError)) throw error;
    err(`container-reconciler sandbox: ${error.message}; remove it, or pass --sandbox with a directory only root can change; nothing was changed`);
    return 4;
  }
}

// Terminal text. Everything this program prints passes through main's `out`
// and `err`, which escape every line with @unwind/progress's `printable`.

/**
 * A report as JSON a terminal cannot act on: JSON.stringify escapes C0 but
 * not DEL or C1, written here as \u00XX (the same JSON, the same values).
 *
 * @example
 * ```ts
 * out(jsonText(report));
 * ```
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
