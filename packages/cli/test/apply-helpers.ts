import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanEnv, repoRoot, type Ran } from './helpers.js';

/** Runs the built `unwind` with `args`, writing `input` to its standard input. */
export function unwindWithInput(args: string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: repoRoot, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** Writes a transaction file (JSON of `value`, or YAML text as given) into `dir`. */
export function writeTransactionFile(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  fs.writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return path;
}
