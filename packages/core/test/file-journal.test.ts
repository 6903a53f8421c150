import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileJournal } from '@unwind/core';
import { tempDir } from './helpers.js';

// fileJournal's begin on the real disk: a begin that fails hands no journal back, so it must not keep the journal file open.

let sandbox: { path: string; remove: () => void } | undefined;
afterEach(() => sandbox?.remove());

/** The files this process holds open under `dir`. */
function openUnder(dir: string): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(`${dir}/`) ? [target] : [];
    } catch {
      return []; // closed since the listing
    }
  });
}

describe('fileJournal begin', () => {
  it('a begin whose first record cannot be written closes the journal file it opened', () => {
    sandbox = tempDir('unwind-file-journal-');
    const root = join(sandbox.path, 'journal');
    const journal = fileJournal({
      root,
      afterAppend: () => {
        throw new Error('the disk went away after the begin record');
      },
    });
    expect(() => journal.begin('leak check')).toThrow(/disk went away/);
    expect(openUnder(root)).toEqual([]);
  });
});
