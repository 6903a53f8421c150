import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { canMount, runChild, tempDir } from './helpers.js';

// Without /proc the files kinds cannot reach any entry (each is named through
// a directory they opened, /proc/self/fd/<fd>/<name>). Each scenario runs in a
// child with a mount namespace of its own, where /proc is unmounted: what
// cannot be seen must never be taken for missing — not at prepare (a file
// "absent" that is there), and not at an undo (a removal that "passed").
const child = join(import.meta.dirname, 'fixtures', 'no-proc-child.ts');
const noMount = canMount();
if (noMount) console.warn(`files no-/proc tests skipped: ${noMount}`);

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

async function scenario(when: string): Promise<Record<string, any>> {
  const base = tempDir('unwind-files-no-proc-');
  cleanups.push(base.remove);
  const dir = join(base.path, 'etc');
  fs.mkdirSync(dir);
  fs.writeFileSync(join(dir, 'app.conf'), 'precious\n', { mode: 0o644 });
  const root = join(base.path, 'journal');
  const result = await runChild(child, [JSON.stringify({ dir, root, when })], { killAfterMs: 60_000, under: ['unshare', '--mount', '--propagation', 'private', '--'] });
  expect(result.stderr).not.toMatch(/Error:/);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!);
}

const refused = { status: 'rolled-back', code: 'NO_PROC', name: 'NoProcError' };

describe('the files kinds without /proc', () => {
  beforeAll(() => requireHere(noMount, 'a mount namespace of its own for a child'));

  it('refuse every step with NoProcError at prepare, touching nothing, when /proc is missing from the start', async () => {
    const r = await scenario('from-the-start');
    expect(r.results).toEqual([
      { ...refused, steps: [{ status: 'failed', code: 'NO_PROC' }] },
      { ...refused, steps: [{ status: 'failed', code: 'NO_PROC' }] },
      { ...refused, steps: [{ status: 'failed', code: 'NO_PROC' }] },
    ]);
    expect(r.file).toEqual({ content: 'precious\n', mode: 0o644 });
    expect(r.created).toBe(false);
  });

  it('refuse with NoProcError, not "no such file", when /proc goes away after a first step ran', async () => {
    const r = await scenario('after-a-first-walk');
    expect(r.first.status).toBe('committed');
    // chmod's prepare looks at the file by its directory: without /proc it once read as ENOENT (the file "missing").
    expect(r.results).toEqual([
      { ...refused, steps: [{ status: 'failed', code: 'NO_PROC' }] },
      { ...refused, steps: [{ status: 'failed', code: 'NO_PROC' }] },
    ]);
    expect(r.file).toEqual({ content: 'precious\n', mode: 0o640 });
  });

  it('end a rollback without /proc rollback-failed, the undo not taken for done; recovery with /proc back finishes it', async () => {
    const r = await scenario('before-the-undo');
    // Newest first: the failing step's own undo passes, chmod's cannot reach the file (and is no conflict),
    // so the rollback stops there and the new file stays for recovery.
    expect(r.rollback.status).toBe('rollback-failed');
    expect(r.rollback).toEqual({ status: 'rollback-failed', name: 'Error', steps: [{ status: 'verified' }, { status: 'undo-failed', code: 'NO_PROC' }, { status: 'undone' }] });
    expect(r.afterRollback).toEqual({ created: true, file: { content: 'precious\n', mode: 0o600 } });
    expect(r.recovered).toEqual(['rolled-back']);
    expect(r.afterRecovery).toEqual({ created: false, file: { content: 'precious\n', mode: 0o644 } });
  });
});
