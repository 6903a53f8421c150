import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Step } from '@unwind/core';
import { treeState } from '@unwind/core/testing';
import { filesSandbox, type FilesSandbox } from './files-sandbox.js';
import { fillParent, stepsInto, swapNow } from './parent-swap.js';

// Symlinks ABOVE the directory a step changes. The files kinds reach that
// directory one component at a time from `/` and follow a symlink on the way
// only when nobody but root (or the running user) could have put it there:
// the link is theirs, in a directory nobody else can write (or a sticky
// one). A directory owned by an ordinary user leading into someone else's
// is an unsafe path transition (systemd-tmpfiles' rule). Each case aims one
// step of every files kind at `<chain>/p`, where the chain leads, through
// what another user (uid 4242) controls, to a mirror outside the sandbox;
// the step is refused with UNSAFE_PATH at prepare and nothing in the mirror
// (or in the sandbox) changes.

const MALLORY = 4242;

let sb: FilesSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = Step<any, any, any>;

function setup() {
  sb = filesSandbox();
  const s = sb;
  fillParent(join(s.decoy, 'p'), 'outside');
  fs.writeFileSync(join(s.dir, 'source'), 'source\n', { mode: 0o600 });
  return s;
}

async function runOne(step: AnyStep) {
  const tx = transaction('above', { journal: memoryJournal(), handleSignals: false });
  tx.add(step);
  return tx.run();
}

/** Every files kind aimed into `p`: each refused with UNSAFE_PATH; the mirror outside and the sandbox unchanged. */
async function expectRefusedEverywhere(s: FilesSandbox, p: string, reason: RegExp) {
  const kinds = stepsInto(p, join(s.dir, 'source'), 0).length;
  for (let index = 0; index < kinds; index++) {
    const [name, step] = stepsInto(p, join(s.dir, 'source'), 0)[index]!;
    const decoy = s.decoyState();
    const inside = treeState(s.dir);
    const outcome = await runOne(step);
    expect(outcome.status, name).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.code, `${name}: ${outcome.steps[0]?.error?.message}`).toBe('UNSAFE_PATH');
    expect(outcome.steps[0]?.error?.message, name).toMatch(reason);
    expect(s.decoyState(), name).toEqual(decoy);
    expect(treeState(s.dir), name).toEqual(inside);
  }
}

describe('symlinks above the changed directory are followed only when root (or the running user) controls them', () => {
  it('a symlink owned by another user, in a root directory: refused for every files kind', async () => {
    const s = setup();
    fs.symlinkSync(s.decoy, join(s.dir, 'up'));
    fs.lchownSync(join(s.dir, 'up'), MALLORY, MALLORY);
    await expectRefusedEverywhere(s, join(s.dir, 'up', 'p'), /symlink owned by uid 4242/);
  });

  it("a root-owned symlink in another user's directory (they could replace it): refused", async () => {
    const s = setup();
    const home = join(s.dir, 'mallory');
    fs.mkdirSync(home, { mode: 0o755 });
    fs.chownSync(home, MALLORY, MALLORY);
    fs.symlinkSync(s.decoy, join(home, 'up'));
    await expectRefusedEverywhere(s, join(home, 'up', 'p'), /which others can change/);
  });

  it('a root-owned symlink in a group-writable root directory: refused', async () => {
    const s = setup();
    const shared = join(s.dir, 'shared');
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o775);
    fs.symlinkSync(s.decoy, join(shared, 'up'));
    await expectRefusedEverywhere(s, join(shared, 'up', 'p'), /which others can change/);
  });

  it("a symlink chain: a root link to another user's link: refused at the second", async () => {
    const s = setup();
    fs.mkdirSync(join(s.dir, 'hop'), { mode: 0o755 });
    fs.symlinkSync(s.decoy, join(s.dir, 'hop', 'theirs'));
    fs.lchownSync(join(s.dir, 'hop', 'theirs'), MALLORY, MALLORY);
    fs.symlinkSync('hop/theirs', join(s.dir, 'up'));
    await expectRefusedEverywhere(s, join(s.dir, 'up', 'p'), /theirs is a symlink owned by uid 4242/);
  });

  it("an unsafe path transition: another user's directory holding a root directory: refused, the sandbox unchanged", async () => {
    const s = setup();
    const home = join(s.dir, 'mallory');
    fs.mkdirSync(home, { mode: 0o755 });
    fs.chownSync(home, MALLORY, MALLORY);
    fillParent(join(home, 'sys', 'p'), 'inside'); // root's, but where mallory could have moved it
    await expectRefusedEverywhere(s, join(home, 'sys', 'p'), /unsafe path transition/);
  });

  it('swapped in between prepare and do (a real directory at prepare, another user\'s symlink at do): refused, the mirror unchanged', async () => {
    const s = setup();
    const up = join(s.dir, 'up');
    fillParent(join(up, 'p'), 'inside');
    const kinds = stepsInto(join(up, 'p'), join(s.dir, 'source'), 0).length;
    for (let index = 0; index < kinds; index++) {
      const [name, step] = stepsInto(join(up, 'p'), join(s.dir, 'source'), 0)[index]!;
      const decoy = s.decoyState();
      let restore: (() => void) | undefined;
      const tx = transaction('swap', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
      tx.on((e) => {
        if (e.type === 'step:start' && e.step === 0) {
          restore = swapNow(up, s.decoy);
          fs.lchownSync(up, MALLORY, MALLORY);
        }
        if (e.type === 'rollback:start') {
          restore?.();
          restore = undefined;
        }
      });
      tx.add(step);
      const outcome = await tx.run();
      restore?.();
      expect(outcome.status, name).toBe('rolled-back');
      expect(['UNSAFE_PATH', 'TARGET_CHANGED'], `${name}: ${outcome.steps[0]?.error?.message}`).toContain(outcome.steps[0]?.error?.code);
      expect(s.decoyState(), name).toEqual(decoy);
    }
  });

  it('the system layout still works: a root link in a root directory (like /var/run -> /run), and one in a sticky directory (like /tmp), are followed', async () => {
    const s = setup();
    const real = join(s.dir, 'real');
    fillParent(join(real, 'p'), 'inside');
    fs.symlinkSync('real', join(s.dir, 'run')); // relative, in a root 0755 directory
    const sticky = join(s.dir, 'tmp');
    fs.mkdirSync(sticky);
    fs.chmodSync(sticky, 0o1777);
    fs.symlinkSync(real, join(sticky, 'run')); // absolute, root's, in a sticky directory
    for (const p of [join(s.dir, 'run', 'p'), join(sticky, 'run', 'p')]) {
      const decoy = s.decoyState();
      const tx = transaction('layout', { journal: memoryJournal(), handleSignals: false });
      tx.add(stepsInto(p, join(s.dir, 'source'), 0)[0]![1]); // writeFile over a file
      tx.add(stepsInto(p, join(s.dir, 'source'), 1)[5]![1]); // chmod
      const outcome = await tx.run();
      expect(outcome.status, JSON.stringify(outcome.steps.map((step) => step.error?.message))).toBe('committed');
      expect(fs.readFileSync(join(real, 'p', 'w'), 'utf8')).toBe('written 0\n');
      expect(fs.statSync(join(real, 'p', 'file')).mode & 0o777).toBe(0o600);
      expect(s.decoyState()).toEqual(decoy);
      fs.chmodSync(join(real, 'p', 'file'), 0o644);
    }
  });
});
