// `container-reconciler sandbox`: one run of the reconciler against its
// sandbox (see sandbox.ts), inside a private mount namespace so the tmpfs the
// private user manager needs never reaches the host.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startSandboxManager } from '@unwind/core/testing/helpers';
import { DEFAULT_QUADLET_SANDBOX, runQuadletSandbox } from './quadlet-sandbox.js';
import { reconcileContainers } from './reconciler.js';
import { formatReport } from './report.js';
import { createSandbox, isSandbox, sandboxConfig, sandboxLayout } from './sandbox.js';

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
  if (values.quadlet) return runQuadletSandbox(resolve(values.sandbox ?? DEFAULT_QUADLET_SANDBOX), out, err);
  if (process.env[NAMESPACE_MARK] !== '1') {
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, ...process.execArgv, process.argv[1]!, 'sandbox', ...argv], {
      stdio: 'inherit',
      env: { ...process.env, [NAMESPACE_MARK]: '1', UNWIND_IN_NAMESPACE: '1' },
    });
    if (r.error) err(`container-reconciler sandbox: cannot make a private mount namespace (unshare): ${r.error.message}`);
    return r.error ? 4 : (r.status ?? 1);
  }
  const root = resolve(values.sandbox ?? DEFAULT_SANDBOX);
  if (fs.existsSync(root) && fs.readdirSync(root).length > 0 && !isSandbox(root)) {
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
    out(values.json ? JSON.stringify(report, null, 2) : `${formatReport(report)}\nThe sandbox: ${root} (desired state in ${layout.desiredDir}).`);
    return report.exitCode;
  } finally {
    await manager.stop();
  }
}
