import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type AnyStepKind, type Outcome } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { chown } from '../src/index.js';
import { tempDir } from './helpers.js';
import { ALICE, cleanups } from './hostile.js';

// files.chown and set-id bits: the kernel clears them on chown so that a file someone else could write
// never becomes set-id as its new owner. The step may put back only what prepare saw, and only where
// nobody but root could have changed the file's content.

/** Her program `tool` (mode `mode`, hers), in a directory she can reach. */
function herTool(mode: number): string {
  const d = tempDir('unwind-files-chown-set-id-');
  cleanups.push(d.remove);
  fs.chmodSync(d.path, 0o755);
  const tool = join(d.path, 'tool');
  fs.writeFileSync(tool, '#!/bin/sh\necho mine\n');
  fs.chownSync(tool, ALICE, ALICE);
  fs.chmodSync(tool, mode);
  return tool;
}

/** Runs argv as her (uid and gid ALICE); fails the test if it fails. */
function asHer(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { uid: ALICE, gid: ALICE, encoding: 'utf8' });
  expect(r.status, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
}

/** One transaction; `start(i)` runs once step i was prepared and journaled, right before its do; `failed(i)` once it failed, before the rollback. */
async function runWith(steps: Array<ReturnType<AnyStepKind>>, on: { start?: (step: number) => void; failed?: (step: number) => void }): Promise<Outcome> {
  const tx = transaction('set-id', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
  for (const step of steps) tx.add(step);
  tx.on((e) => {
    if (e.type === 'step:start') on.start?.(e.step);
    if (e.type === 'step:failed') on.failed?.(e.step);
  });
  return tx.run();
}

const setIdRootOwned = (path: string) => {
  const st = fs.lstatSync(path);
  return st.uid === 0 && (st.mode & 0o6000) !== 0;
};

describe('files.chown never leaves a file root owns set-id with content someone else chose', () => {
  it('set-id bits she sets between prepare and do are not put back: do refuses (TargetChangedError), the file stays hers', async () => {
    const tool = herTool(0o755);
    const outcome = await runWith([chown({ path: tool, uid: 0, gid: 0 })], {
      start: () => asHer(['chmod', '6755', tool]),
    });
    expect(setIdRootOwned(tool)).toBe(false);
    expect(outcome.status === 'rolled-back' || outcome.status === 'rollback-failed' ? outcome.cause.name : outcome.status).toBe('TargetChangedError');
    // Her mode is not the before-state, and undo does not touch what someone else changed: the conflict is reported.
    expect(outcome.status === 'rollback-failed' && outcome.undoError.name).toBe('UndoConflictError');
    const st = fs.lstatSync(tool);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([ALICE, ALICE, 0o6755]);
  });

  it('set-id bits prepare saw on her file are not put back when the owner becomes root: the kernel\'s clearing stands', async () => {
    const tool = herTool(0o4755);
    const outcome = await runWith([chown({ path: tool, uid: 0, gid: 0 })], {});
    expect(outcome.status).toBe('committed');
    expect(setIdRootOwned(tool)).toBe(false);
    const st = fs.lstatSync(tool);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o755]);
  });

  it('undo does not put set-id bits back on root\'s program after she owned it and could rewrite it: UndoConflictError, left as she has it', async () => {
    const d = tempDir('unwind-files-chown-set-id-');
    cleanups.push(d.remove);
    fs.chmodSync(d.path, 0o755);
    const tool = join(d.path, 'tool');
    fs.writeFileSync(tool, '#!/bin/sh\necho root\n');
    fs.chmodSync(tool, 0o4755); // root's set-uid program: only root can change it, so do keeps its bits
    const outcome = await runWith([chown({ path: tool, uid: ALICE, gid: ALICE }), failingStep({ message: 'later failure' })], {
      // While hers, she rewrites it (the write clears set-uid) and sets the bit again, as its owner may.
      failed: () => asHer(['sh', '-c', `printf '#!/bin/sh\\necho hers\\n' > '${tool}' && chmod 4755 '${tool}'`]),
    });
    expect(fs.readFileSync(tool, 'utf8')).toContain('hers');
    expect(setIdRootOwned(tool)).toBe(false);
    expect(outcome.status).toBe('rollback-failed');
    expect(outcome.status === 'rollback-failed' && outcome.undoError.name).toBe('UndoConflictError');
    const st = fs.lstatSync(tool);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([ALICE, ALICE, 0o4755]);
  });

  it('a file only root could change keeps its set-id bits through do and undo (the group changes, the owner stays root)', async () => {
    const d = tempDir('unwind-files-chown-set-id-');
    cleanups.push(d.remove);
    const tool = join(d.path, 'tool');
    fs.writeFileSync(tool, '#!/bin/sh\n');
    fs.chmodSync(tool, 0o6755);
    let during = 0;
    const outcome = await runWith([chown({ path: tool, gid: ALICE }), failingStep({ message: 'later failure' })], {
      failed: (step) => {
        if (step === 1) during = fs.lstatSync(tool).mode & 0o7777;
      },
    });
    expect(during).toBe(0o6755);
    expect(outcome.status).toBe('rolled-back');
    const st = fs.lstatSync(tool);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o6755]);
  });
});
