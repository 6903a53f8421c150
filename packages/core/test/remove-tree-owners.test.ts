import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeTreeSafely } from '@unwind/core';
import { tempDir } from './helpers.js';

// A restore removes "extra" directories in trees users own parts of. A user can move a directory of hers
// that holds one of root's (what `sudo` left in her ~/.cache) into her part of the tree: removing it as an
// extra went into root's directory and deleted what she cannot. With `refuseUnsafeTransitions` the walk
// never empties a directory of another owner out of one a user owns; without it, nothing changes.

const USER = 4242;
const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** `alice/` (hers) holding `junk/` (hers) holding `tool/` (root's, with `state.db`). */
function sandbox() {
  const base = tempDir('unwind-remove-owners-');
  cleanups.push(base.remove);
  const alice = join(base.path, 'alice');
  const junk = join(alice, 'junk');
  const tool = join(junk, 'tool');
  fs.mkdirSync(tool, { recursive: true, mode: 0o755 });
  fs.writeFileSync(join(tool, 'state.db'), 'root data', { mode: 0o600 });
  fs.writeFileSync(join(junk, 'hers.txt'), 'hers');
  for (const p of [alice, junk, join(junk, 'hers.txt')]) fs.chownSync(p, USER, USER);
  return { alice, junk, tool };
}

describe.runIf(isRoot)('removeTreeSafely with refuseUnsafeTransitions', () => {
  it("does not empty a directory of root's inside one of hers: refused typed, root's data left", () => {
    const s = sandbox();
    let refusal: unknown;
    try {
      removeTreeSafely(s.junk, { refuseUnsafeTransitions: true });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toMatchObject({ code: 'UNSAFE_PATH', context: { directory: s.tool, owner: 0, above: USER, transition: true } });
    expect(fs.readFileSync(join(s.tool, 'state.db'), 'utf8')).toBe('root data');
  });

  it("refuses at the top too: a directory of root's she moved into hers is not emptied", () => {
    const s = sandbox();
    const moved = join(s.alice, 'moved');
    fs.renameSync(s.tool, moved);
    expect(() => removeTreeSafely(moved, { refuseUnsafeTransitions: true })).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expect(fs.readFileSync(join(moved, 'state.db'), 'utf8')).toBe('root data');
  });

  it('removes her own directories, and an empty one of another owner (nothing in it to harm)', () => {
    const s = sandbox();
    fs.rmSync(join(s.tool, 'state.db'));
    fs.mkdirSync(join(s.junk, 'deeper'));
    fs.writeFileSync(join(s.junk, 'deeper', 'x'), 'x');
    fs.chownSync(join(s.junk, 'deeper'), USER, USER);
    expect(removeTreeSafely(s.junk, { refuseUnsafeTransitions: true })).toBe(true);
    expect(fs.existsSync(s.junk)).toBe(false);
  });

  it('without the option, the walk goes on as before (other callers)', () => {
    const s = sandbox();
    expect(removeTreeSafely(s.junk)).toBe(true);
    expect(fs.existsSync(s.junk)).toBe(false);
  });
});
