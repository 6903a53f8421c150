#!/usr/bin/env node
// The Quick start demo: a three-step change to a sandbox directory whose last
// step fails, so unwind takes every started step back, newest first — then a
// crash in the middle of a second run, finished by recover().
// Runs in a throw-away temp directory; touches nothing else on the machine.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeOutcome, fileJournal, recover, transaction } from '@unwind/core';
import { stagedRemove, testKinds, treeState, writeMarker } from '@unwind/core/testing';

const sandbox = fs.mkdtempSync(join(tmpdir(), 'unwind-demo-'));
const etc = join(sandbox, 'etc');
const root = join(sandbox, 'journal');
const show = (title) => {
  console.log(`\n${title}`);
  for (const e of treeState(etc)) if (e.type === 'file') console.log(`  ${e.path.padEnd(12)} ${fs.readFileSync(join(etc, e.path), 'utf8').trim()}`);
};

try {
  fs.mkdirSync(etc);
  fs.writeFileSync(join(etc, 'app.conf'), 'port = 80\n');
  fs.writeFileSync(join(etc, 'old.log'), 'last week\n');
  const before = treeState(etc);
  show('Before:');

  const tx = transaction('install demo app', { journal: fileJournal({ root }) });
  tx.add(writeMarker({ path: join(etc, 'app.conf'), content: 'port = 8080\n' }));
  tx.add(writeMarker({ path: join(etc, 'app.env'), content: 'MODE=production\n' }));
  tx.add(stagedRemove({ path: join(etc, 'old.log') }));
  tx.add(writeMarker({ path: join(etc, 'app.service'), content: '[Service]\n', failIn: 'verify' })); // the injected failure
  tx.on((event) => {
    const label = { 'step:start': 'do  ', 'step:verified': 'ok  ', 'step:failed': 'FAIL', 'rollback:start': 'ROLLBACK', 'undo:done': 'undo' }[event.type];
    if (label) console.log(`  ${label} ${'description' in event ? event.description.replace(sandbox, '<sandbox>') : ''}`);
  });
  console.log('\nRunning 4 steps; the last one fails its check on purpose:');
  const outcome = await tx.run();
  console.log(`\n${describeOutcome(outcome).replaceAll(sandbox, '<sandbox>')}`);
  show('After the rollback:');
  const same = JSON.stringify(treeState(etc)) === JSON.stringify(before);
  console.log(`\nByte-for-byte as before (paths, bytes, modes, owners): ${same ? 'yes' : 'NO'}`);

  // A crash: a child process runs the same change and is SIGKILLed right after step 2 is journaled.
  console.log('\nNow a crash: another process runs the change and is killed with SIGKILL in the middle.');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { fileJournal, transaction } from '@unwind/core';
    import { writeMarker } from '@unwind/core/testing';
    const journal = fileJournal({ root: ${JSON.stringify(root)}, afterAppend: (r) => { if (r.kind === 'prepared' && r.step === 1) process.kill(process.pid, 'SIGKILL'); } });
    const tx = transaction('install demo app', { journal });
    tx.add(writeMarker({ path: ${JSON.stringify(join(etc, 'app.conf'))}, content: 'port = 8080\\n' }));
    tx.add(writeMarker({ path: ${JSON.stringify(join(etc, 'app.env'))}, content: 'MODE=production\\n' }));
    await tx.run();
  `], { cwd: import.meta.dirname, stdio: 'inherit' });
  console.log(`  the process ended by ${child.signal}`);
  show('Left behind by the crash:');
  const report = await recover({ root, kinds: testKinds });
  for (const t of report.transactions) if (t.result !== 'already-finished') console.log(`\nrecover(): transaction "${t.name}" ${t.result}`);
  show('After recover():');
  const restored = JSON.stringify(treeState(etc)) === JSON.stringify(before);
  console.log(`\nByte-for-byte as before: ${restored ? 'yes' : 'NO'}`);
  process.exitCode = same && restored ? 0 : 1;
} finally {
  fs.rmSync(sandbox, { recursive: true, force: true });
}
