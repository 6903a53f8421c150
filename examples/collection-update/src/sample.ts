import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { LOCK, MANIFEST, hashFile, renderDoc, type CollectionDoc } from './format.js';
import { RELEASE_INDEX } from './update.js';

function put(root: string, name: string, content: string, mode = 0o644): void {
  fs.mkdirSync(dirname(join(root, name)), { recursive: true });
  fs.writeFileSync(join(root, name), content, { mode });
  fs.chmodSync(join(root, name), mode);
}

/**
 * A sample collection at version 1.0.0: manifest, a lock whose hashes match,
 * and four artifacts (one executable).
 *
 * @example
 * ```ts
 * seedCollection('/tmp/unwind-example-collection/collection');
 * ```
 */
export function seedCollection(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const doc: CollectionDoc = {
    name: 'team-skills',
    version: '1.0.0',
    artifacts: [
      { name: 'skills/review.md', version: '1.0.0' },
      { name: 'skills/notes.md', version: '1.0.0' },
      { name: 'commands/deploy.sh', version: '1.0.0' },
      { name: 'agents/triage.md', version: '1.0.0' },
    ],
  };
  put(dir, 'skills/review.md', '# review\nread the diff twice\n');
  put(dir, 'skills/notes.md', '# notes\nwrite things down\n');
  put(dir, 'commands/deploy.sh', '#!/bin/sh\necho deploying v1\n', 0o755);
  put(dir, 'agents/triage.md', '# triage\nlabel new issues\n', 0o640);
  put(dir, MANIFEST, renderDoc(doc, 'manifest'));
  put(dir, LOCK, renderDoc({ ...doc, artifacts: doc.artifacts.map((a) => ({ ...a, sha256: hashFile(join(dir, a.name)) })) }, 'lock'));
}

/**
 * A sample release 1.1.0 as a local directory: two updated artifacts, one
 * new artifact in a new directory, and a release index with sha256s.
 *
 * @example
 * ```ts
 * seedRelease('/tmp/unwind-example-collection/upstream/release-1.1.0');
 * ```
 */
export function seedRelease(dir: string): void {
  put(dir, 'skills/review.md', '# review\nread the diff twice\nthen run the tests\n');
  put(dir, 'commands/deploy.sh', '#!/bin/sh\necho deploying v2\n', 0o755);
  put(dir, 'agents/helper/agent.md', '# helper\nanswer questions\n');
  const artifacts = [
    { name: 'skills/review.md', version: '1.1.0' },
    { name: 'commands/deploy.sh', version: '1.2.0' },
    { name: 'agents/helper/agent.md', version: '1.0.0' },
  ].map((a) => ({ ...a, sha256: hashFile(join(dir, a.name)) }));
  put(dir, RELEASE_INDEX, renderDoc({ name: 'team-skills', version: '1.1.0', artifacts }, 'release'));
}
