// A small installer as someone outside the repository writes it, against the
// packed packages: scripts/consumer-test.mjs copies it to installer.mts and
// installer.cts, type-checks both (strict, no skipLibCheck, node16 and
// bundler resolution) and runs them, so it needs no top-level await.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describeOutcome, fileJournal, recover, transaction, type Outcome } from '@unwind/core';
import { temporaryDirectory } from '@unwind/core/testing/helpers';
import { ensureDir, kinds as fileKinds, writeFile } from '@unwind/files';
import { kinds as lingerKinds } from '@unwind/linger';
import { renderProgress } from '@unwind/progress';
import { reconcile } from '@unwind/reconcile';
import { snapshot } from '@unwind/snapshots';
import { kinds as systemdKinds } from '@unwind/systemd';
import { kinds as userKinds } from '@unwind/users';
import { loadKinds } from '@unwind/cli';

function expectStatus(outcome: Outcome, status: Outcome['status']): void {
  if (outcome.status !== status) throw new Error(`expected ${status}, got ${outcome.status}: ${describeOutcome(outcome)}`);
}

async function main(): Promise<void> {
  const sandbox = temporaryDirectory('unwind-consumer-');
  try {
    const journal = fileJournal({ root: join(sandbox.path, 'journal') });
    const config = join(sandbox.path, 'etc', 'demo', 'demo.conf');

    const install = transaction('install demo', { journal, handleSignals: false });
    install.add(ensureDir({ path: join(sandbox.path, 'etc', 'demo'), mode: 0o755 }));
    install.add(writeFile({ path: config, content: 'port = 8080\n', mode: 0o640 }));
    expectStatus(await install.run(), 'committed');

    // A change whose check fails is taken back: the old file stays.
    const update = transaction('update demo', { journal, handleSignals: false });
    update.add(writeFile({ path: config, content: 'port = nonsense\n', validate: ['/bin/sh', '-c', 'exit 1', 'sh', '%s'] }));
    expectStatus(await update.run(), 'rolled-back');
    if (fs.readFileSync(config, 'utf8') !== 'port = 8080\n') throw new Error('the rolled-back update changed the file');

    const report = await recover({ root: join(sandbox.path, 'journal'), kinds: [...fileKinds] });
    if (!report.ok) throw new Error('recover reported a failure on a clean journal');

    // Every package loads in this module system.
    const loaded = [lingerKinds.length, systemdKinds.length, userKinds.length, typeof reconcile, typeof snapshot, typeof loadKinds, typeof renderProgress];
    if (loaded.includes(0) || loaded.includes('undefined')) throw new Error(`a package did not load: ${JSON.stringify(loaded)}`);
    console.log('installer: committed, rolled back, recovered');
  } finally {
    sandbox.remove();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
