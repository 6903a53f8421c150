// What the apply-go tests share: main.go built once with the Go toolchain
// (standard library only, offline, caches in a temp directory), and the kill
// counter that SIGKILLs the unwind main.go starts right after a chosen file
// operation.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const example = resolve(import.meta.dirname, '..');
export const repoRoot = resolve(example, '../..');
export const UNWIND = join(repoRoot, 'packages/cli/bin/unwind.js');
// The built kill counter (plain node loads it into the built CLI; the sources would need tsx).
const KILL_PRELOAD = join(repoRoot, 'packages/core/dist/testing/crash-states/kill-preload.js');

/** Builds main.go into a new temp directory: `binary` is the installer, `remove` deletes it all. */
export function buildInstaller(): { directory: string; binary: string; remove: () => void } {
  if (spawnSync('go', ['version']).status !== 0) throw new Error('go is missing: .ci/run installs it on CI (Debian package golang-go)');
  if (!fs.existsSync(join(repoRoot, 'packages/cli/dist/bin.js')) || !fs.existsSync(KILL_PRELOAD)) throw new Error('the packages are not built: run the build first');
  const directory = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-go-build-'));
  const binary = join(directory, 'install-hello');
  // Offline and self-contained: no proxy, no toolchain download, caches and HOME (go's env file) in the temp directory.
  const goEnvironment = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: directory, GOCACHE: join(directory, 'cache'), GOPATH: join(directory, 'gopath'), GOPROXY: 'off', GOFLAGS: '', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
  const built = spawnSync('go', ['build', '-o', binary, '.'], { cwd: example, env: goEnvironment, encoding: 'utf8', timeout: 300_000 });
  const remove = () => fs.rmSync(directory, { recursive: true, force: true });
  if (built.status !== 0) {
    remove();
    throw new Error(`go build failed: ${built.stderr}`);
  }
  return { directory, binary, remove };
}

/** The environment that makes the unwind started by main.go count its file operations under `roots` (report in `report`, which must be outside them), or die right after operation `killAt`. */
export function killCounter(roots: readonly string[], report: string, killAt?: number): Record<string, string> {
  return {
    NODE_OPTIONS: `--import ${pathToFileURL(KILL_PRELOAD).href}`,
    UNWIND_KILL_ROOTS: roots.join('\n'),
    UNWIND_KILL_REPORT: report,
    UNWIND_KILL_TRACED: '',
    ...(killAt === undefined ? {} : { UNWIND_KILL_AT: String(killAt) }),
  };
}

/**
 * The kill points of a counting run's report: right after the config
 * directory is made and right after each file is put in place (all before
 * the commit point, so recovery rolls back).
 */
export function killPoints(report: string): Array<{ operation: number; label: string }> {
  const operations = fs.readFileSync(join(report, 'operations.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { operation: number; label: string });
  return operations.filter((o) => /^mkdirSync .*\/hello$/.test(o.label) || /^renameSync .* -> .*\/hello\.(conf|env)$/.test(o.label));
}
