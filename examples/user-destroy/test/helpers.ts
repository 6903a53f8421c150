import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { runCommand, type CommandRunner, type CommandSpec } from '@unwind/core';
import { fileHashes, pool, runTypeScript, treeState, type ChildOutcome } from '@unwind/core/testing';
import { createSandbox, DB_FILES, sampleAppPath, type Sandbox } from '../src/sandbox.js';

export const repoRoot = resolve(import.meta.dirname, '../../..');
export const isRoot = process.getuid?.() === 0;
/** Why the tests skip, or false when they run. */
export const skipReason: string | false = isRoot ? false : 'not root: the real shadow tools (useradd -P ...) and setpriv need root';

export const APP = 'example-app';

export type TestSandbox = Sandbox & { uid: number; home: string; stateDir: string; dataDir: string; user: string };

/** A sandbox with user alice (a uid free on this machine), managed state and a linger file. */
export function makeSandbox(uid?: number): TestSandbox {
  const root = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-destroy-'));
  return { ...createSandbox(root, { user: 'alice', app: APP, ...(uid !== undefined ? { uid } : {}) }), user: 'alice' };
}

/** Hashes of the machine's own user database, to prove the tests never touch it. */
export function machineDb(): Record<string, string> {
  return fileHashes('/etc', DB_FILES);
}

/**
 * Everything the program may touch: the whole sandbox tree (journal and the
 * shadow tools' `<file>-` backups aside), the database files byte for byte,
 * and the mtimes of the managed state (to the microsecond, what a restore
 * can set).
 */
export function destroyState(sb: TestSandbox) {
  const mtimes: Record<string, bigint> = {};
  const walk = (p: string) => {
    const st = fs.lstatSync(p, { bigint: true });
    mtimes[relative(sb.stateDir, p) || '.'] = st.mtimeNs / 1000n;
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(join(p, n));
  };
  if (fs.existsSync(sb.stateDir)) walk(sb.stateDir);
  return {
    tree: treeState(sb.root, { ignore: (rel) => rel === 'var/lib/unwind-user-destroy' || /^etc\/(passwd|group|shadow|gshadow|subuid|subgid)-$/.test(rel) }),
    db: Object.fromEntries(DB_FILES.map((f) => [f, fs.readFileSync(join(sb.root, 'etc', f), 'utf8')])),
    mtimes,
  };
}

/** The after-state the program promises: no account, no own group, no linger file, no managed state. */
export function expectDestroyed(sb: TestSandbox, expect: typeof import('vitest').expect): void {
  const db = destroyState(sb).db;
  for (const f of DB_FILES) expect(db[f], f).not.toMatch(/^alice:/m);
  expect(fs.existsSync(join(sb.lingerDir, 'alice'))).toBe(false);
  expect(fs.existsSync(sb.stateDir)).toBe(false);
  expect(fs.existsSync(sb.dataDir)).toBe(false);
}

/** The sample application's destroy command in a sandbox. */
export function destroyCommand(sb: { root: string }, ...extra: string[]): string[] {
  return [sampleAppPath(sb.root, APP), 'destroy', ...extra];
}

/** How an injected command misbehaves: exit with a code and message, or run the real program and then report a failure. */
export type Fault = { exitCode: number; stderr: string } | 'fail-after' | undefined;

/** A runner that records every argv and substitutes a stub where `fault` says so (the stub keeps the real argv). */
export function faultyExec(fault: (spec: CommandSpec) => Fault = () => undefined): { exec: CommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  const exec: CommandRunner = async (spec) => {
    calls.push([...spec.argv]);
    const f = fault(spec);
    if (f === undefined) return runCommand(spec);
    if (f === 'fail-after') {
      await runCommand(spec);
      return runCommand({ ...spec, argv: ['sh', '-c', "echo 'injected failure after the change' >&2; exit 3", 'sh', ...spec.argv] });
    }
    return runCommand({ ...spec, argv: ['sh', '-c', `echo '${f.stderr}' >&2; exit ${f.exitCode}`, 'sh', ...spec.argv] });
  };
  return { exec, calls };
}

/** Runs a TypeScript file in a child node process; resolves with how it ended. */
export function runChild(script: string, args: string[], timeoutMs = 60_000): Promise<ChildOutcome> {
  return runTypeScript(script, args, { cwd: repoRoot, killAfterMs: timeoutMs });
}

export { pool };
