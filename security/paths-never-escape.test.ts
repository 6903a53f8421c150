import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Step } from '@unwind/core';
import { cannotMount, mountTmpfs, treeState } from '@unwind/core/testing';
import { chmod, chown, ensureDir, remove, symlink, writeFile } from '@unwind/files';
import { create, encodeManifest, readManifest, restore, snapshot } from '@unwind/snapshots';
import { removeUser } from '@unwind/users';
import { failingStep } from '@unwind/core/testing';
import { accountsSandbox, DENY, machineHashes } from './accounts-sandbox.js';
import { filesSandbox, type FilesSandbox } from './files-sandbox.js';
import { fillParent, startSwapper, stepsInto, swapNow } from './parent-swap.js';

// Paths never escape their tree: nonsense roots are refused before anything
// is touched, and a tampered snapshot manifest (valid checksum) naming `..`
// or an absolute path is refused before a restore writes anything.

let sb: FilesSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function run(step: Step<any, any, any>) {
  const tx = transaction('escape', { journal: memoryJournal(), handleSignals: false });
  tx.add(step);
  return tx.run();
}

describe('/ is refused as a target', () => {
  const rootSteps: Array<[string, () => Step<unknown, unknown, unknown>]> = [
    ['chmod', () => chmod({ path: '/', mode: 0o777 }) as Step<unknown, unknown, unknown>],
    ['chown', () => chown({ path: '/', uid: 4242 }) as Step<unknown, unknown, unknown>],
    ['symlink', () => symlink({ path: '/', target: '/tmp' }) as Step<unknown, unknown, unknown>],
    ['ensureDir', () => ensureDir({ path: '/', mode: 0o777 }) as Step<unknown, unknown, unknown>],
    ['writeFile', () => writeFile({ path: '/', content: 'x' }) as Step<unknown, unknown, unknown>],
    ['remove', () => remove({ paths: ['/'] }) as Step<unknown, unknown, unknown>],
    ['snapshot (in the journal)', () => snapshot({ path: '/' }) as Step<unknown, unknown, unknown>],
  ];
  for (const [name, make] of rootSteps) {
    it(`${name} of /: refused with a typed error, / unchanged`, async () => {
      const before = fs.lstatSync('/');
      const outcome = await run(make());
      expect(outcome.status).toBe('refused');
      expect(JSON.stringify(outcome)).toContain('INVALID_INPUT');
      const after = fs.lstatSync('/');
      expect([after.mode, after.uid, after.gid]).toEqual([before.mode, before.uid, before.gid]);
    });
  }

  it('restore into /: refused before anything is read or written', async () => {
    sb = filesSandbox();
    fs.writeFileSync(join(sb.dir, 'a'), 'a');
    const snap = await create({ source: sb.dir, store: join(sb.dir, '..', 'store') });
    await expect(restore({ store: snap.store, id: snap.id, path: '/' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('a tampered snapshot manifest (valid checksum) is refused before anything is written', () => {
  for (const [name, path] of [['..', '../escaped'], ['absolute', '/etc/escaped'], ['.. inside', 'sub/../../escaped'], ['empty component', 'a//b']] as const) {
    it(`an entry ${JSON.stringify(path)} (${name}): the restore throws, nothing outside (or inside) the tree changed`, async () => {
      sb = filesSandbox();
      const s = sb;
      fs.writeFileSync(join(s.dir, 'a'), 'a');
      const store = join(s.dir, '..', 'store');
      const snap = await create({ source: s.dir, store });
      const manifestPath = join(snap.path, 'manifest.json');
      const manifest = readManifest(store, snap.id);
      const file = manifest.entries.find((e) => e.type === 'file')!;
      manifest.entries.push({ ...file, path });
      fs.chmodSync(manifestPath, 0o600);
      fs.writeFileSync(manifestPath, encodeManifest(manifest));
      fs.writeFileSync(join(s.dir, 'a'), 'changed since the snapshot');
      const decoy = s.decoyState();
      const outside = fs.readdirSync(join(s.dir, '..')).sort();
      await expect(restore({ store, id: snap.id, path: s.dir })).rejects.toMatchObject({ code: 'SNAPSHOT_CORRUPT' });
      expect(fs.readFileSync(join(s.dir, 'a'), 'utf8')).toBe('changed since the snapshot'); // nothing restored
      expect(fs.readdirSync(join(s.dir, '..')).sort()).toEqual(outside);
      expect(fs.existsSync('/etc/escaped')).toBe(false);
      expect(s.decoyState()).toEqual(decoy);
    });
  }
});

describe('a mount reached through a symlinked parent is detected (real paths before mount checks)', () => {
  it('remove of a path whose parent is a symlink to a directory holding a mount: refused, the mounted files kept', async () => {
    expect(cannotMount()).toBe(false); // root in a private mount namespace: see scripts/test.mjs
    sb = filesSandbox();
    const s = sb;
    const real = join(s.dir, 'real');
    fs.mkdirSync(join(real, 'parent', 'data'), { recursive: true });
    const unmount = mountTmpfs(join(real, 'parent', 'data'), '1m');
    try {
      fs.writeFileSync(join(real, 'parent', 'data', 'precious'), 'on another filesystem\n');
      fs.symlinkSync(real, join(s.dir, 'via-link'));
      const decoy = s.decoyState();
      // `parent` itself is on the staging filesystem; only the mount below it, seen through the link, says no.
      const outcome = await run(remove({ paths: [join(s.dir, 'via-link', 'parent')], stagingDir: s.dir }));
      expect(outcome.status).toBe('rolled-back'); // prepare refused it: nothing moved
      expect(JSON.stringify(outcome)).toContain('CROSS_DEVICE');
      expect(fs.readFileSync(join(real, 'parent', 'data', 'precious'), 'utf8')).toBe('on another filesystem\n');
      expect(s.decoyState()).toEqual(decoy);
    } finally {
      unmount();
    }
  });
});

describe('a shadow lock file is never written or read through a planted symlink', () => {
  // The undo of removeUser edits the sandbox's database under `<file>.lock`, linked from `<file>.<pid>` (our pid).
  for (const [name, planted] of [['<file>.<pid>', `.${process.pid}`], ['<file>.lock', '.lock']] as const) {
    it(`a symlink at ${name} to a file outside the sandbox: UNSAFE_LOCK_FILE, the file it points to unchanged`, async () => {
      const accounts = accountsSandbox();
      const machine = machineHashes();
      sb = filesSandbox();
      const s = sb;
      try {
        const victim = join(s.decoy, 'shadow');
        fs.writeFileSync(victim, '999999999\n'); // a dead pid: a stale lock unwind would take over, were it followed
        const decoy = s.decoyState();
        const tx = transaction('lock', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
        // Planted once userdel (which takes the same locks) is done, as the rollback starts.
        tx.on((e) => {
          if (e.type === 'rollback:start') for (const file of ['passwd', 'shadow', 'group', 'gshadow']) fs.symlinkSync(victim, join(accounts.root, 'etc', `${file}${planted}`));
        });
        tx.add(removeUser({ name: 'dave', prefix: accounts.root, protect: DENY, stopProcesses: false, removeHome: false, lingerDir: accounts.lingerDir }));
        tx.add(failingStep({ message: 'force the undo' }));
        const outcome = await tx.run();
        expect(outcome.status).toBe('rollback-failed');
        expect(JSON.stringify(outcome.steps[0]?.undo?.error)).toContain('UNSAFE_LOCK_FILE');
        expect(s.decoyState()).toEqual(decoy);
        for (const file of ['passwd', 'shadow', 'group', 'gshadow']) expect(fs.readlinkSync(join(accounts.root, 'etc', `${file}${planted}`))).toBe(victim);
        expect(machineHashes()).toEqual(machine);
      } finally {
        accounts.cleanup();
      }
    });
  }
});

/** A sandbox with P (inside) and its mirror (outside, part of the decoy), and the decoy's state before the case. */
function swapSandbox() {
  sb = filesSandbox();
  const s = sb;
  const p = join(s.dir, 'p');
  const outside = join(s.decoy, 'mirror');
  fillParent(p, 'inside');
  fillParent(outside, 'outside');
  fs.writeFileSync(join(s.dir, 'source'), 'copied\n', { mode: 0o600 });
  return { s, p, outside, decoy: s.decoyState() };
}

describe('a parent directory swapped for a symlink between prepare and do (or during undo) is never followed', () => {
  const acceptable = ['TARGET_CHANGED', 'SYMLINK_REFUSED', 'UNEXPECTED_FILE_TYPE', 'UNDO_CONFLICT'];

  for (const [index, name] of stepsInto('/p', '/s', 0).map(([n], i) => [i, n] as const)) {
    it(`${name}: swapped after prepare, refused before anything is touched; the outside mirror unchanged`, async () => {
      const { s, p, outside, decoy } = swapSandbox();
      const inside = treeState(p);
      let restore: (() => void) | undefined;
      const tx = transaction('swap', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
      tx.on((e) => {
        if (e.type === 'step:start' && e.step === 0) restore = swapNow(p, outside);
        if (e.type === 'rollback:start') {
          restore?.();
          restore = undefined;
        }
      });
      tx.add(stepsInto(p, join(s.dir, 'source'), 0)[index]![1]);
      const outcome = await tx.run();
      restore?.();
      expect(outcome.status).toBe('rolled-back');
      expect(acceptable).toContain(outcome.steps[0]?.error?.code);
      expect(s.decoyState()).toEqual(decoy);
      expect(treeState(p)).toEqual(inside);
    });

    it(`${name}: swapped when its undo starts, the undo is a conflict, never followed; the outside mirror unchanged`, async () => {
      const { s, p, outside, decoy } = swapSandbox();
      let restore: (() => void) | undefined;
      const tx = transaction('swap', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
      tx.on((e) => {
        if (e.type === 'undo:start' && e.step === 0) restore = swapNow(p, outside);
      });
      tx.add(stepsInto(p, join(s.dir, 'source'), 0)[index]![1]);
      tx.add(failingStep({ message: 'force the undo' }));
      const outcome = await tx.run();
      restore?.();
      expect(outcome.status).toBe('rollback-failed');
      expect(outcome.steps[0]?.undo?.error?.code).toBe('UNDO_CONFLICT');
      expect(s.decoyState()).toEqual(decoy);
    });
  }

  const ITERATIONS = Number(process.env.UNWIND_RACE_ITERATIONS ?? 300);
  it(`a separate process swapping the parent in a loop while the steps run and roll back: ${ITERATIONS} iterations, nothing outside ever changes`, async () => {
    sb = filesSandbox();
    const s = sb;
    const p = join(s.dir, 'p');
    const outside = join(s.decoy, 'mirror');
    fillParent(outside, 'outside');
    fs.writeFileSync(join(s.dir, 'source'), 'copied\n', { mode: 0o600 });
    const decoy = s.decoyState();
    const swapper = startSwapper(p, outside, join(s.dir, 'swapper'));
    const seen: Record<string, number> = {};
    let swaps = 0;
    try {
      for (let i = 0; i < ITERATIONS; i++) {
        fs.rmSync(p, { recursive: true, force: true });
        fillParent(p, 'inside');
        const steps = stepsInto(p, join(s.dir, 'source'), i);
        const [name, step] = steps[i % steps.length]!;
        let went = false;
        const tx = transaction('race', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
        tx.on((e) => {
          if (e.type !== 'step:start' || e.step !== 0) return;
          went = true;
          swapper.go(i); // returns once the first swap is in place: do races the loop from there
        });
        tx.add(step);
        if (i % 2 === 1) tx.add(failingStep({ message: 'force the undo' }));
        const outcome = await tx.run();
        if (went) swaps += await swapper.stop(i);
        const codes = [outcome.steps[0]?.error?.code, outcome.steps[0]?.undo?.error?.code].filter(Boolean).join('+');
        const key = `${outcome.status}${codes ? ` (${codes})` : ''}`;
        seen[key] = (seen[key] ?? 0) + 1;
        expect(['committed', 'rolled-back', 'rollback-failed'], `iteration ${i} (${name}): ${key}`).toContain(outcome.status);
        expect(s.decoyState(), `iteration ${i} (${name}): ${key}`).toEqual(decoy);
      }
    } finally {
      swapper.child.kill('SIGKILL');
    }
    console.log(`parent swap race: ${ITERATIONS} iterations, ${swaps} swaps, outcomes`, seen);
    // The race was really run: the loop swapped, and some steps met a swapped parent and refused.
    expect(swaps).toBeGreaterThan(ITERATIONS);
    const refused = Object.entries(seen).filter(([key]) => acceptable.some((code) => key.includes(code))).reduce((n, [, count]) => n + count, 0);
    expect(refused).toBeGreaterThan(0);
  }, 300_000);
});
