#!/usr/bin/env node
// The command line of the service-installer example. Runs against a
// throw-away sandbox by default; touches the machine only with --real.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCommandLine, printable, renderProgress } from '@unwind/cli';
import type { CommandRunner } from '@unwind/core';
import { exitCodeOfRecovery, UnsafeDirectoryError } from '@unwind/core';
import type { ManagerOptions } from '@unwind/systemd';
import { failingStep, startSandboxManager, testKinds, type SandboxManager } from '@unwind/core/testing/helpers';
import { describeRecovery, install, recoverInstall, type InstallOptions } from './install.js';
import { createSandbox, openSandboxRoot, sandboxLayout } from './sandbox.js';

const DEFAULT_SANDBOX = join(tmpdir(), 'unwind-example-service-installer');
const NS_MARK = 'UNWIND_SERVICE_INSTALLER_NS';

const USAGE = `usage: main.ts [install|recover] [options]

  install     install the service, all or nothing (the default)
  recover     finish or roll back an interrupted install, nothing else

options:
  --name NAME          the service: its user, group, unit and config (default: hello)
  --config FILE        the config file's content (default: GREETING=hello from NAME)
  --sandbox DIR        sandbox root (default: ${DEFAULT_SANDBOX}); made if missing
  --real               act on this machine: /etc, the user database, logind, the
                       service user's own systemd manager. Never the default.
  --system             with --real: a system service in the system manager (runs as
                       the service user, WantedBy=multi-user.target, no linger)
  --journal DIR        journal root (default: <sandbox>/var/lib/unwind-service-installer,
                       with --real: /var/lib/unwind-service-installer)
  --fail-after N       demo: make the install fail right after phase N (1-based), to see the rollback
  -h, --help

The sandbox needs root: the shadow tools run with -P <sandbox>, and a private
systemd user manager runs in a private mount namespace for as long as this
program runs (the service stops with it; its files stay in the sandbox).`;

/**
 * Test hooks: a command runner for every step.
 *
 * @example
 * ```ts
 * await main(['--name', 'hello'], process.stdout, process.stderr, { exec: recordingRunner });
 * ```
 */
export interface MainHooks {
  exec?: CommandRunner;
}

/**
 * Runs the command line; resolves with the exit code (0 installed, 1 rolled
 * back, 2 rollback failed, 3 lock held, 4 refused, 64 usage).
 *
 * @example
 * ```ts
 * process.exitCode = await main(['install', '--name', 'hello']);
 * ```
 */
export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, hooks: MainHooks = {}): Promise<number> {
  const line = parseCommandLine(
    argv,
    {
      options: {
    name: { type: 'string', default: 'hello' },
    config: { type: 'string' },
    sandbox: { type: 'string' },
    real: { type: 'boolean', default: false },
    system: { type: 'boolean', default: false },
    journal: { type: 'string' },
    'fail-after': { type: 'string' },
      },
      commands: ['install', 'recover'],
      defaultCommand: 'install',
      usage: USAGE,
    },
    out,
    err,
  );
  if (typeof line === 'number') return line;
  const { command, values } = line;
  if (values.system && !values.real) {
    err.write('--system installs into the system manager: it needs --real (the sandbox has only a user manager).\n');
    return 64;
  }
  if (values.real && values.sandbox) {
    err.write('--real and --sandbox exclude each other.\n');
    return 64;
  }
  let failAfter: number | undefined;
  if (values['fail-after'] !== undefined) {
    failAfter = Number(values['fail-after']);
    if (!Number.isInteger(failAfter) || failAfter < 0) {
      err.write(`--fail-after needs a phase number, got ${values['fail-after']}\n`);
      return 64;
    }
  }
  let config: string | undefined;
  if (values.config !== undefined) {
    try {
      config = fs.readFileSync(values.config, 'utf8');
    } catch (error) {
      err.write(`cannot read --config ${values.config}: ${(error as Error).message}\n`);
      return 64;
    }
  }
  if (process.getuid?.() !== 0) {
    err.write(values.real ? 'Installing a service on this machine needs root.\n' : 'The sandbox needs root: the shadow tools run with -P <sandbox> and a private systemd user manager is mounted in a private namespace.\n');
    return 4;
  }
  const name = values.name;
  const extra = {
    ...(failAfter !== undefined ? { inject: [{ afterStep: failAfter, step: failingStep({ message: `demo failure after phase ${failAfter} (--fail-after)` }) }], extraKinds: testKinds } : { extraKinds: testKinds }),
    ...(config !== undefined ? { config } : {}),
    ...(hooks.exec ? { exec: hooks.exec } : {}),
  };

  if (values.real) {
    const journalRoot = resolve(values.journal ?? '/var/lib/unwind-service-installer');
    const target = values.system ? { manager: { scope: 'system' as const }, system: true } : { manager: { scope: { user: name } }, startManager: true };
    const options: InstallOptions = { name, ...target, journalRoot, onEvent: renderProgress({ stream: err }), recoverCommand: `node --import tsx examples/service-installer/src/main.ts recover --real${values.system ? ' --system' : ''} --journal ${journalRoot}`, ...extra };
    return command === 'recover' ? runRecover(journalRoot, out, err, extra.extraKinds) : runInstall(options, out, err);
  }

  // The sandbox: re-run inside a private mount namespace, so the tmpfs the user manager needs never reaches the host.
  if (process.env[NS_MARK] !== '1') {
    const script = process.argv[1] ?? fileURLPath();
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, ...process.execArgv, script, ...argv], {
      stdio: 'inherit',
      env: { ...process.env, [NS_MARK]: '1', UNWIND_IN_NAMESPACE: '1' },
    });
    if (r.error) {
      err.write(`cannot make a private mount namespace (unshare): ${r.error.message}\n`);
      return 4;
    }
    return r.status ?? 1;
  }
  const root = resolve(values.sandbox ?? DEFAULT_SANDBOX);
  // Before anything in it is read or run: a sandbox root another user made or can change is theirs (their passwd, loginctl, units).
  let found: ReturnType<typeof openSandboxRoot>;
  try {
    found = openSandboxRoot(root);
  } catch (error) {
    if (!(error instanceof UnsafeDirectoryError)) throw error;
    err.write(`Refusing: ${printable(error.message)}. Remove it, or pass --sandbox with a directory only root can change.\n`);
    return 4;
  }
  if (found === 'other') {
    err.write(`Refusing: ${printable(root)} exists and is not a sandbox made by this program.\n`);
    return 4;
  }
  const sb = found === 'sandbox' ? sandboxLayout(root) : createSandbox(root);
  const journalRoot = resolve(values.journal ?? sb.journalRoot);
  let manager: SandboxManager;
  try {
    manager = await startSandboxManager({ home: sb.managerHome, runtimeDir: sb.managerRuntimeDir, log: join(root, 'manager/manager.log') });
  } catch (error) {
    err.write(`${printable((error as Error).message)}\n`);
    return 4;
  }
  try {
    const m: ManagerOptions = { scope: 'user', home: manager.home, runtimeDir: manager.runtimeDir, unitDir: join(manager.home, '.config/systemd/user'), commandTimeoutMs: 15_000 };
    if (command === 'recover') return await runRecover(journalRoot, out, err, extra.extraKinds, sb.loginctl);
    const code = await runInstall(
      {
        name,
        prefix: sb.root,
        lingerDir: sb.lingerDir,
        loginctl: sb.loginctl,
        manager: m,
        journalRoot,
        onEvent: renderProgress({ stream: err }),
        recoverCommand: `node --import tsx examples/service-installer/src/main.ts recover --sandbox ${root}`,
        ...extra,
      },
      out,
      err,
    );
    if (code === 0) out.write(`The sandbox's user manager stops when this program ends, and ${printable(name)}.service with it; everything else stays in ${printable(root)}.\n`);
    return code;
  } finally {
    await manager.stop();
  }
}

function fileURLPath(): string {
  return new URL(import.meta.url).pathname;
}

async function runInstall(options: InstallOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const result = await install(options);
  // The message quotes names and command output another user may have chosen: escaped line by line for the terminal.
  (result.exitCode === 0 ? out : err).write(`${result.message.split('\n').map(printable).join('\n')}\n`);
  return result.exitCode;
}

async function runRecover(journalRoot: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, extraKinds: InstallOptions['extraKinds'], loginctl?: string): Promise<number> {
  const report = await recoverInstall({ journalRoot, ...(extraKinds ? { extraKinds } : {}), ...(loginctl ? { loginctl } : {}) });
  const lines = describeRecovery(report);
  // Recovery lines quote step descriptions and errors from the journal: escaped line by line for the terminal.
  (report.refused ? err : out).write(`${lines.length ? lines.map(printable).join('\n') : 'Nothing to recover: no interrupted install.'}\n`);
  return exitCodeOfRecovery(report);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
