import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Step } from '@unwind/core';
import { copy, install } from '@unwind/files';
import { filesSandbox, type FilesSandbox } from './files-sandbox.js';

// Secrets stay secret: a file unwind creates from a source is never more
// permissive than the source unless the caller sets `mode`.

let sb: FilesSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

const modeOf = (path: string) => fs.lstatSync(path).mode & 0o7777;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function run(step: Step<any, any, any>) {
  const tx = transaction('secrets', { journal: memoryJournal(), handleSignals: false });
  tx.add(step);
  return tx.run();
}

describe('a copy is never more permissive than its source', () => {
  for (const [name, kind] of [['copy', copy], ['install', install]] as const) {
    it(`${name} of a 0600 secret to a new path is 0600`, async () => {
      sb = filesSandbox();
      const decoy = sb.decoyState();
      const source = join(sb.dir, 'secret.key');
      fs.writeFileSync(source, 'private\n', { mode: 0o600 });
      fs.chmodSync(source, 0o600);
      expect((await run(kind({ source, path: join(sb.dir, 'copy.key') }))).status).toBe('committed');
      expect(modeOf(join(sb.dir, 'copy.key'))).toBe(0o600);
      expect(sb.decoyState()).toEqual(decoy);
    });
  }

  it('copy of a 0600 secret over an existing 0644 file is 0600, not 0644', async () => {
    sb = filesSandbox();
    const source = join(sb.dir, 'secret.key');
    fs.writeFileSync(source, 'private\n');
    fs.chmodSync(source, 0o600);
    fs.writeFileSync(join(sb.dir, 'world.key'), 'old\n');
    fs.chmodSync(join(sb.dir, 'world.key'), 0o644);
    expect((await run(copy({ source, path: join(sb.dir, 'world.key') }))).status).toBe('committed');
    expect(modeOf(join(sb.dir, 'world.key'))).toBe(0o600);
  });

  it('set-id bits of a source are never carried to the copy; an executable stays executable', async () => {
    sb = filesSandbox();
    const source = join(sb.dir, 'tool');
    fs.writeFileSync(source, '#!/bin/sh\n');
    fs.chmodSync(source, 0o4755);
    expect((await run(copy({ source, path: join(sb.dir, 'tool-copy') }))).status).toBe('committed');
    expect(modeOf(join(sb.dir, 'tool-copy'))).toBe(0o755);
  });

  it('an explicit mode is the caller\'s choice and is applied as given', async () => {
    sb = filesSandbox();
    const source = join(sb.dir, 'secret.key');
    fs.writeFileSync(source, 'private\n');
    fs.chmodSync(source, 0o600);
    expect((await run(copy({ source, path: join(sb.dir, 'shared.key'), mode: 0o640 }))).status).toBe('committed');
    expect(modeOf(join(sb.dir, 'shared.key'))).toBe(0o640);
  });
});
