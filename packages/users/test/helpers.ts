import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryJournal, runCommand, transaction, type CommandRunner, type CommandSpec, type Outcome, type Step } from '@unwind/core';
import { afterAll, beforeAll, expect } from 'vitest';
import { fileHashes, treeState } from '@unwind/core/testing';
import { processesOf } from '../src/index.js';

export const isRoot = process.getuid?.() === 0;
/** Why the real-tool tests cannot run here (they then fail, naming it), or false when they can. */
export const skipReason: string | false = isRoot ? false : 'not root: the real shadow tools (useradd -P ...) need root';
if (skipReason) console.warn(`@unwind/users tests: ${skipReason}`);

export const DB_FILES = ['passwd', 'group', 'shadow', 'gshadow'] as const;

/** Hashes of the machine's own user database, to prove the tests never touch it. */
export function machineDbHashes(): Record<string, string> {
  // shadow and gshadow are unreadable when not root; the real-tool tests skip then anyway.
  return fileHashes('/etc', DB_FILES, { unreadable: 'unreadable' });
}

/**
 * The guard every users test file runs: the machine's own user database must
 * come out of the file byte for byte as it went in (hashed before its tests,
 * compared after them). Call it at the top level of the file.
 */
export function keepMachineDatabaseUnchanged(): void {
  let machine: Record<string, string>;
  beforeAll(() => {
    machine = machineDbHashes();
  });
  afterAll(() => {
    expect(machineDbHashes()).toEqual(machine);
  });
}

/** A throw-away root: PREFIX/etc with copies of the machine's files, PREFIX/home. */
export interface PrefixRoot {
  root: string;
  lingerDir: string;
  /** The four database files, byte for byte, plus the home and linger trees. */
  state(): { files: Record<string, string>; home: unknown; linger: unknown };
  sh(tool: string, ...args: string[]): string;
  cleanup(): void;
}

export function prefixRoot(): PrefixRoot {
  const root = fs.mkdtempSync(join(tmpdir(), 'unwind-users-'));
  fs.mkdirSync(join(root, 'etc'), { recursive: true });
  fs.mkdirSync(join(root, 'home'), { recursive: true });
  const lingerDir = join(root, 'var/lib/systemd/linger');
  fs.mkdirSync(lingerDir, { recursive: true });
  for (const f of [...DB_FILES, 'login.defs']) fs.copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  for (const f of DB_FILES) {
    const st = fs.statSync(`/etc/${f}`);
    fs.chmodSync(join(root, 'etc', f), st.mode & 0o7777);
    if (isRoot) fs.chownSync(join(root, 'etc', f), st.uid, st.gid);
  }
  return {
    root,
    lingerDir,
    state: () => ({
      files: Object.fromEntries(DB_FILES.map((f) => [f, fs.readFileSync(join(root, 'etc', f), 'utf8')])),
      home: treeState(join(root, 'home')),
      linger: treeState(lingerDir),
    }),
    // useradd -P still writes the running system's lastlog and faillog unless -l says not to.
    sh: (tool, ...args) => execFileSync(tool, ['-P', root, ...(tool === 'useradd' ? ['-l'] : []), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/** A uid that no account on this machine has and no process runs as. */
export function freeUid(): number {
  const used = new Set(fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => Number(l.split(':')[2])));
  for (;;) {
    const uid = 47000 + Math.floor(Math.random() * 2000);
    if (!used.has(uid) && processesOf(uid).length === 0) return uid;
  }
}

/** How an injected command misbehaves. */
export type Fault = 'fail' | 'hang' | 'fail-after' | { exitCode: number; stderr: string } | undefined;

/**
 * A command runner that records every argv and, where `fault` says so, runs
 * a stub instead (the original argv stays visible as the stub's arguments):
 * one that exits non-zero with a message on stderr, one that hangs past a
 * short timeout, or the real program followed by a reported failure.
 */
export function faultyExec(fault: (spec: CommandSpec) => Fault = () => undefined): { exec: CommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  const exec: CommandRunner = (spec) => {
    calls.push([...spec.argv]);
    const f = fault(spec);
    if (f === undefined) return runCommand(spec);
    // The real program runs and changes the system, then the call still reports a failure.
    if (f === 'fail-after') return runCommand(spec).then(() => runCommand({ ...spec, argv: ['sh', '-c', "echo 'injected failure after the change' >&2; exit 3", ...spec.argv] }));
    if (f === 'hang') return runCommand({ ...spec, argv: ['sh', '-c', 'sleep 30', ...spec.argv], timeoutMs: 300, killGraceMs: 100 });
    const { exitCode, stderr } = f === 'fail' ? { exitCode: 3, stderr: 'injected failure' } : f;
    return runCommand({ ...spec, argv: ['sh', '-c', `echo '${stderr}' >&2; exit ${exitCode}`, ...spec.argv] });
  };
  return { exec, calls };
}

/** The shadow tools that change the database. */
export const SHADOW_TOOLS = ['useradd', 'usermod', 'userdel', 'groupadd', 'groupdel', 'groupmod', 'gpasswd'];

/** A step of any kind, for lists of steps of several kinds. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep = Step<any, any, any>;

/** Runs `steps` in one memory-journal transaction named `name`, through `exec`, with no retry of a failed `do`. */
export function runSteps(name: string, steps: AnyStep[], exec: CommandRunner): Promise<Outcome> {
  const tx = transaction(name, { journal: memoryJournal(), handleSignals: false, exec, retry: { do: { retries: 0, minTimeout: 10 } } });
  for (const s of steps) tx.add(s);
  return tx.run();
}

/**
 * Asserts that `step` is refused with `code` (and, if given, a message
 * matching `message`), that no shadow tool and no pkill ran, and that what
 * `state` reads (a prefix root's `state`, say) is as it was before.
 */
export async function expectRefused(step: AnyStep, code: string, options: { state?: () => unknown; message?: RegExp } = {}): Promise<void> {
  const before = options.state?.();
  const { exec, calls } = faultyExec();
  const outcome = await runSteps('users refusal', [step], exec);
  expect(outcome.status === 'refused' || outcome.status === 'rolled-back').toBe(true);
  expect('cause' in outcome && outcome.cause.code).toBe(code);
  if (options.message) expect('cause' in outcome && outcome.cause.message).toMatch(options.message);
  expect(calls.filter((c) => SHADOW_TOOLS.includes(c[0]!) || c[0] === 'pkill')).toEqual([]);
  if (options.state) expect(options.state()).toEqual(before);
}
