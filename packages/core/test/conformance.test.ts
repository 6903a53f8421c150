import * as fs from 'node:fs';
import { join } from 'node:path';
import { conformanceSuite, stagedRemove, treeState, writeMarker } from '@unwind/core/testing';
import { tempDir } from './helpers.js';

// Core's own test step kinds keep the contract every adapter's kinds must keep.
for (const existing of [false, true]) {
  conformanceSuite(writeMarker, {
    setup: async () => {
      const dir = tempDir();
      if (existing) fs.writeFileSync(join(dir.path, 'target'), 'old content\n', { mode: 0o600 });
      return {
        args: { path: join(dir.path, 'target'), content: 'new content\n' },
        state: async () => treeState(dir.path),
        cleanup: async () => dir.remove(),
      };
    },
  });
}

conformanceSuite(stagedRemove, {
  setup: async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir.path, 'victim'), 'data');
    return {
      args: { path: join(dir.path, 'victim') },
      state: async () => treeState(dir.path),
      cleanup: async () => dir.remove(),
    };
  },
});
