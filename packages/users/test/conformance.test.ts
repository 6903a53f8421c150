import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { conformanceSuite } from '@unwind/core/testing';
import { addToGroup, ensureGroup, ensureUser, removeFromGroup, removeUser } from '../src/index.js';
import { freeUid, keepMachineDatabaseUnchanged, prefixRoot, skipReason, type PrefixRoot } from './helpers.js';

// The machine's own database must come out of this file byte for byte as it went in.
keepMachineDatabaseUnchanged();

/** A sandbox for the conformance suite: a prefix root, prepared by `arrange`. */
function sandbox<A>(arrange: (p: PrefixRoot) => A, partialDo?: (p: PrefixRoot) => void) {
  return async () => {
    const p = prefixRoot();
    try {
      const args = arrange(p);
      return { args, state: async () => p.state(), cleanup: async () => p.cleanup(), ...(partialDo ? { partialDo: async () => partialDo(p) } : {}) };
    } catch (error) {
      p.cleanup();
      throw error;
    }
  };
}

const skip = skipReason;

describe('users step kinds against a prefix root', () => {
  let uid = 0;
  beforeAll(() => {
    uid = freeUid();
  });

  // A new user: created with its home; undo deletes both. Partial do: the entry without the home.
  conformanceSuite(ensureUser, {
    cannotRun: skip,
    setup: sandbox(
      (p) => ({ name: 'alice', prefix: p.root, uid, shell: '/bin/sh', groups: ['users'], comment: 'Alice' }),
      // What a useradd of the step's own options leaves when killed before it made the home.
      (p) => p.sh('useradd', '-M', '-u', String(uid), '-s', '/bin/sh', '-c', 'Alice', 'alice'),
    ),
  });

  // An existing user changed in place: home field, shell, comment, exact group list.
  conformanceSuite(ensureUser, {
    cannotRun: skip,
    setup: sandbox((p) => {
      p.sh('groupadd', 'ops');
      p.sh('groupadd', 'managed');
      p.sh('useradd', '-m', '-u', String(uid), '-d', '/home/alice', '-s', '/bin/sh', 'alice');
      p.sh('usermod', '-a', '-G', 'ops', 'alice');
      return { name: 'alice', prefix: p.root, home: '/srv/alice', shell: '/bin/bash', comment: 'Alice', groups: ['managed'], appendGroups: false };
    }),
  });

  // bob sits between other users in passwd and between other members in a group; he lingers and has a home.
  conformanceSuite(removeUser, {
    cannotRun: skip,
    setup: sandbox(
      (p) => {
        p.sh('groupadd', 'managed');
        p.sh('useradd', '-m', '-u', String(uid + 1), 'carol');
        p.sh('useradd', '-m', '-u', String(uid), '-s', '/bin/bash', '-c', 'Bob', 'bob');
        p.sh('useradd', '-M', '-u', String(uid + 2), 'dave');
        for (const u of ['carol', 'bob', 'dave']) p.sh('usermod', '-a', '-G', 'managed', u);
        fs.writeFileSync(join(p.root, 'home/bob/notes.txt'), 'keep me\n', { mode: 0o600 });
        fs.chownSync(join(p.root, 'home/bob/notes.txt'), uid, uid);
        fs.writeFileSync(join(p.lingerDir, 'bob'), '');
        return { name: 'bob', prefix: p.root, removeHome: true, graceMs: 200 };
      },
      (p) => p.sh('userdel', 'bob'),
    ),
  });

  conformanceSuite(ensureGroup, {
    cannotRun: skip,
    setup: sandbox((p) => ({ name: 'managed', prefix: p.root, gid: uid })),
  });

  conformanceSuite(addToGroup, {
    cannotRun: skip,
    setup: sandbox((p) => {
      p.sh('groupadd', 'managed');
      p.sh('useradd', '-M', '-u', String(uid), 'alice');
      p.sh('useradd', '-M', '-u', String(uid + 1), 'carol');
      p.sh('usermod', '-a', '-G', 'managed', 'carol');
      return { user: 'alice', group: 'managed', prefix: p.root };
    }),
  });

  // Undo must put alice back in the middle of the member list, not at its end.
  conformanceSuite(removeFromGroup, {
    cannotRun: skip,
    setup: sandbox((p) => {
      p.sh('groupadd', 'managed');
      for (const [i, u] of ['carol', 'alice', 'dave'].entries()) {
        p.sh('useradd', '-M', '-u', String(uid + i), u);
        p.sh('usermod', '-a', '-G', 'managed', u);
      }
      return { user: 'alice', group: 'managed', prefix: p.root };
    }),
  });
});
