import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { chmod, chown, copy, ensureDir, move, remove, symlink, writeFile } from '@unwind/files';
import type { Step } from '@unwind/core';

/**
 * The pieces of the parent-swap cases: a directory P inside the sandbox, a
 * mirror O outside it holding the same names (so a redirected call would
 * find its target there), one step of each files kind aimed into P, and a
 * separate process that swaps P for a symlink to O and back as fast as it
 * can while a step runs.
 */

/** What every case puts into P (and the mirror into O). */
export function fillParent(dir: string, marker: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, 'file'), `${marker} file\n`, { mode: 0o644 });
  fs.chmodSync(join(dir, 'file'), 0o644);
  fs.writeFileSync(join(dir, 'w'), `${marker} w\n`);
  fs.writeFileSync(join(dir, 'm'), `${marker} m\n`);
  fs.mkdirSync(join(dir, 'existing'), { mode: 0o755 });
  fs.chmodSync(join(dir, 'existing'), 0o755);
  fs.symlinkSync('t0', join(dir, 'link'));
  fs.mkdirSync(join(dir, 'tree', 'keep'), { recursive: true });
  fs.writeFileSync(join(dir, 'tree', 'keep', 'k'), `${marker} k\n`);
  fs.writeFileSync(join(dir, 'tree', 'x'), `${marker} x\n`);
  fs.mkdirSync(join(dir, 'tree', 'y'));
  fs.writeFileSync(join(dir, 'tree', 'y', 'z'), `${marker} z\n`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = Step<any, any, any>;

/** One step of every files kind, each aimed at something in `p` (`source` is a file outside `p` for copy). */
export function stepsInto(p: string, source: string, i: number): Array<[string, AnyStep]> {
  return [
    ['writeFile over a file', writeFile({ path: join(p, 'w'), content: `written ${i}\n` })],
    ['writeFile of a new file', writeFile({ path: join(p, `new-${i}`), content: 'new\n', mode: 0o600 })],
    ['copy', copy({ source, path: join(p, 'c') })],
    ['ensureDir of missing directories, with a mode', ensureDir({ path: join(p, 'd', 'e'), mode: 0o750 })],
    ['ensureDir of an existing directory (chmod)', ensureDir({ path: join(p, 'existing'), mode: 0o700 })],
    ['chmod', chmod({ path: join(p, 'file'), mode: 0o600 })],
    ['chown', chown({ path: join(p, 'file'), uid: 4242, gid: 4242 })],
    ['symlink', symlink({ path: join(p, 'link'), target: `t${i + 1}` })],
    ['remove with a keep list', remove({ paths: [join(p, 'tree')], keep: [join(p, 'tree', 'keep')] })],
    ['move', move({ from: join(p, 'm'), to: join(p, 'm2') })],
  ];
}

/** Swaps `p` for a symlink to `outside`, in this process (for the deterministic cases). */
export function swapNow(p: string, outside: string): () => void {
  fs.renameSync(p, `${p}.real`);
  fs.symlinkSync(outside, p);
  return () => {
    fs.unlinkSync(p);
    fs.renameSync(`${p}.real`, p);
  };
}

/**
 * A separate process that swaps `p` for a symlink to `outside` and back in a
 * loop while the file `<control>.run` exists. `go(i)` starts it and waits
 * (busy, at most a second: it is called from a synchronous event listener)
 * until its first swap is in place; `stop(i)` removes the run file and
 * waits until `p` is back, returning how many swaps it made.
 */
export function startSwapper(p: string, outside: string, control: string): { child: ChildProcess; go(i: number): void; stop(i: number): Promise<number> } {
  const code = `
    const fs = require('node:fs');
    const [p, outside, control] = process.argv.slice(1);
    const read = (path) => { try { return fs.readFileSync(path, 'utf8'); } catch { return null; } };
    let swapped = false, swaps = 0, seq = null;
    const out = () => { fs.renameSync(p, p + '.real'); fs.symlinkSync(outside, p); swapped = true; swaps++; };
    const back = () => { fs.unlinkSync(p); fs.renameSync(p + '.real', p); swapped = false; };
    const tick = () => {
      const run = read(control + '.run');
      if (run === '') { setImmediate(tick); return; } // being written
      if (run !== null) {
        if (seq === null) { seq = run; swaps = 0; out(); fs.writeFileSync(control + '.started', seq); }
        for (let i = 0; i < 20; i++) { if (swapped) back(); else out(); }
      } else if (seq !== null) {
        if (swapped) back();
        fs.writeFileSync(control + '.idle', seq + ' ' + swaps);
        seq = null;
      }
      setImmediate(tick);
    };
    tick();
  `;
  const child = spawn(process.execPath, ['-e', code, p, outside, control], { stdio: ['ignore', 'inherit', 'inherit'] });
  const read = (path: string) => (fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : '');
  return {
    child,
    go: (i) => {
      fs.writeFileSync(`${control}.run`, String(i));
      const until = Date.now() + 1000;
      while (read(`${control}.started`) !== String(i) && Date.now() < until);
    },
    stop: async (i) => {
      fs.rmSync(`${control}.run`, { force: true });
      const until = Date.now() + 10_000;
      for (;;) {
        const [seq, swaps] = read(`${control}.idle`).split(' ');
        if (seq === String(i)) return Number(swaps);
        if (Date.now() > until) throw new Error(`the swapper did not stop (iteration ${i})`);
        await new Promise((r) => setTimeout(r, 1));
      }
    },
  };
}
