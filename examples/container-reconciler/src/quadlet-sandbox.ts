// `container-reconciler sandbox --quadlet`: the reconciler on Quadlet files as it runs on a real
// host — real users, logind, linger, each user's own manager, git — inside a throw-away machine
// (systemd as PID 1 on an overlay of `/` that vanishes with it), so nothing of this machine
// changes. The desired state is a plain directory in the sandbox, which the user edits; each run
// commits it to a fresh bare repository in the machine and syncs from there. podman's Quadlet
// generator is replaced by a stand-in (Debian 12's podman, 4.3, has none): it turns the files
// into units running their `Exec=` directly, so no image is pulled and no container runs.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bootMachine, cannotBootMachine, type Machine } from '@unwind/core/testing/helpers';
import { validateDesired, type ReconcileReport } from '@unwind/reconcile';
import { readDesired, validateContainer } from './desired.js';
import { formatReport } from './report.js';

/** Where the Quadlet sandbox is unless `--sandbox DIR` says otherwise. */
export const DEFAULT_QUADLET_SANDBOX = join(tmpdir(), 'unwind-example-quadlet');
const WORKSPACE = resolve(import.meta.dirname, '../../..');
const MAIN = join(import.meta.dirname, 'main.ts');
const STAND_IN = join(import.meta.dirname, '..', 'stand-in', 'test-quadlet-generator.sh');
const GENERATOR = '/usr/lib/systemd/user-generators/podman-user-generator';
const MARK = '.container-reconciler-quadlet-sandbox';

/** The sample desired state, in quadlet-deploy's layout: a container with its volume, and one in a transform sub-directory. */
const SAMPLE: Record<string, string> = {
  'desired/web.container': '[Unit]\nDescription=sample container web\n\n[Container]\nImage=docker.io/library/nginx:1.27\nExec=/bin/sleep infinity\nVolume=web.volume:/data\n\n[Install]\nWantedBy=default.target\n',
  'desired/web.volume': '[Volume]\n',
  'desired/tailnet/api.container': '[Container]\nImage=docker.io/library/api:1\nExec=/bin/sleep infinity\n',
  // quadlet-deploy's tailscale transform, in shape: a label put first, a default network, enabled through [Install].
  'transforms/tailnet.container': '[Container]\n+Label=tailnet=yes\nNetwork=none\n\n[Install]\nWantedBy=default.target\n',
};

/** Makes the sandbox on first use; refuses a directory that is not one. Returns a refusal, or undefined. */
function prepare(root: string): string | undefined {
  if (fs.existsSync(join(root, MARK))) return undefined;
  if (fs.existsSync(root) && (!fs.statSync(root).isDirectory() || fs.readdirSync(root).length > 0)) return `${root} exists and is not a Quadlet sandbox made by this program`;
  for (const [path, content] of Object.entries(SAMPLE)) {
    fs.mkdirSync(join(root, path, '..'), { recursive: true });
    fs.writeFileSync(join(root, path), content);
  }
  fs.writeFileSync(join(root, MARK), 'made by container-reconciler sandbox --quadlet\n');
  return undefined;
}

/** The refusal the run in the machine would report for the sandbox's files alone (reading them, then each container's own checks), or undefined. */
function fileProblems(root: string): ReconcileReport | undefined {
  const { containers, problems } = readDesired(join(root, 'desired'), { transformsDir: join(root, 'transforms') });
  problems.push(...validateDesired(containers, { key: (c) => c.name, validate: validateContainer }));
  if (problems.length === 0) return undefined;
  const now = new Date().toISOString();
  return { name: 'containers', status: 'refused', exitCode: 4, startedAt: now, finishedAt: now, durationMs: 0, items: [], problems, recovered: [] };
}

/** Runs a command in the machine; throws with its output unless it exits 0. */
function ok(machine: Machine, argv: string[], cwd = '/'): string {
  const r = machine.run(argv, { cwd });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed in the throw-away machine: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * Refuses the sandbox's Quadlet files when they have problems of their own (no machine booted);
 * otherwise runs the reconciler once on them inside a fresh throw-away machine, prints
 * its report and each deployed container's generated unit, and returns the run's exit code (4 when
 * the sandbox or the machine cannot be used). The machine and everything in it vanish at the end.
 *
 * @example
 * ```ts
 * process.exitCode = await runQuadletSandbox('/tmp/unwind-example-quadlet', console.log, console.error);
 * ```
 */
export async function runQuadletSandbox(root: string, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const refused = prepare(root) ?? (cannotBootMachine() || undefined);
  if (refused) {
    err(`container-reconciler sandbox --quadlet: ${refused}; nothing was changed`);
    return 4;
  }
  // What the run in the machine would refuse from the files alone (their syntax, a missing Image=,
  // a transform that does not apply), refused here without booting one: the same checks, the same report.
  const refusedEarly = fileProblems(root);
  if (refusedEarly) {
    out(formatReport(refusedEarly));
    return refusedEarly.exitCode;
  }
  const machine = await bootMachine({ bind: [WORKSPACE, root], name: 'quadlet-sandbox' });
  try {
    ok(machine, ['install', '-m', '755', STAND_IN, GENERATOR]);
    ok(machine, ['git', 'init', '--quiet', '--bare', '--initial-branch=main', '/srv/desired.git']);
    ok(machine, ['git', 'clone', '--quiet', '/srv/desired.git', '/srv/desired-work']);
    ok(machine, ['cp', '-R', `${join(root, 'desired')}/.`, '/srv/desired-work/']);
    ok(machine, ['git', 'add', '-A'], '/srv/desired-work');
    ok(machine, ['git', '-c', 'user.name=sandbox', '-c', 'user.email=sandbox@localhost', 'commit', '--quiet', '--allow-empty', '-m', 'the sandbox\'s desired state'], '/srv/desired-work');
    ok(machine, ['git', 'push', '--quiet', 'origin', 'main'], '/srv/desired-work');
    const sync = machine.run(
      ['node', '--import', 'tsx', MAIN, 'sync', '--repository', '/srv/desired.git', '--state', '/var/lib/container-reconciler', '--transforms', join(root, 'transforms'), '--privilege-group', 'containers-mint-key', '--settle', '500', '--json'],
      { cwd: WORKSPACE, timeoutMs: 300_000 },
    );
    let report: ReconcileReport;
    try {
      report = JSON.parse(sync.stdout) as ReconcileReport;
    } catch {
      if (sync.stderr.trim()) err(sync.stderr.trim());
      return sync.status ?? 1;
    }
    out(formatReport(report));
    for (const item of report.items) {
      if (!['created', 'updated', 'repaired', 'unchanged'].includes(item.outcome)) continue;
      const show = machine.run(['systemctl', '--user', '-M', `${item.key}@`, 'show', '-p', 'ActiveState,SourcePath', `${item.key}.service`]).stdout;
      const value = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(show)?.[1] ?? '?';
      out(`  ${item.key}.service on ${item.key}'s own manager: ${value('ActiveState')}, generated from ${value('SourcePath')}`);
    }
    out(`In a throw-away machine, now gone: real users, logind, linger, each user's manager and git; the Quadlet generator was a stand-in (no podman image was pulled or run). The desired state: ${join(root, 'desired')}.`);
    return sync.status ?? 1;
  } finally {
    await machine.stop();
  }
}
