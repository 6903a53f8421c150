// The Quick start demo: the transactional-uninstall example (a real program
// built from @unwind/files) in a throw-away sandbox.
//  1. an uninstall that fails while staging the third inventory group: every
//     group already staged moves back, the state directory is byte-for-byte
//     as before;
//  2. an uninstall killed with SIGKILL half-way: running it again recovers
//     first, then finishes — never half;
// Touches nothing outside a temp directory.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderProgress } from '@unwind/cli';
import { failingStep, treeState } from '@unwind/core/testing';
import { seedStateDirectory } from '../transactional-uninstall/src/inventory.ts';
import { uninstall } from '../transactional-uninstall/src/uninstall.ts';

const sandbox = fs.mkdtempSync(join(tmpdir(), 'unwind-demo-'));
const stateDir = join(sandbox, 'home', 'user', '.memtomem');
const journalRoot = join(sandbox, 'var', 'lib', 'unwind-uninstall');
const hide = (text: string) => text.replaceAll(sandbox, '<sandbox>');
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const heading = (text: string) => console.log(process.stdout.isTTY && !process.env.NO_COLOR ? `\n\x1b[1m${text}\x1b[0m` : `\n${text}`);
const listing = () => fs.readdirSync(stateDir).sort().join('  ');
// Progress lines, with the sandbox's temp path shortened.
const progress = () => renderProgress({ stream: { write: (text: string) => process.stdout.write(hide(text)), isTTY: false } as never, isTTY: false, color: process.stdout.isTTY === true && !process.env.NO_COLOR });

try {
  fs.mkdirSync(join(sandbox, 'home', 'user'), { recursive: true });
  seedStateDirectory(stateDir);
  const before = treeState(stateDir);
  heading('An application state directory:');
  console.log(`  ${listing()}`);

  heading('1. Uninstall, with a failure injected while staging the third group');
  const failed = await uninstall({
    stateDir,
    journalRoot,
    inject: [{ afterStep: 2, step: failingStep({ message: 'I/O error while staging (injected for the demo)' }) }],
    extraKinds: [failingStep],
    onEvent: progress(),
  });
  console.log(`\n${hide(failed.message)}`);
  console.log(`\nThe state directory now: ${listing()}`);
  console.log(`Byte-for-byte as before (paths, bytes, modes, owners, links): ${same(treeState(stateDir), before) ? 'yes' : 'NO'}`);

  heading('2. Uninstall again, killed with SIGKILL after the second group is staged');
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), stateDir, journalRoot], { stdio: 'inherit' });
  console.log(`  the uninstall process ended by ${child.signal}, half-way: ${listing()}`);
  console.log('  (the pid files and fragments were staged away when it died)');
  console.log('  Running the uninstall again: it recovers the interrupted run first, then uninstalls.');
  const again = await uninstall({ stateDir, journalRoot, onEvent: progress() });
  console.log(`\n${hide(again.message)}`);
  const gone = !fs.existsSync(stateDir) || fs.readdirSync(stateDir).length === 0;
  console.log(`\nEverything uninstalled, nothing half-done: ${again.status === 'committed' && gone ? 'yes' : 'NO'}`);
  process.exitCode = failed.status === 'rolled-back' && again.status === 'committed' && gone ? 0 : 1;
} finally {
  fs.rmSync(sandbox, { recursive: true, force: true });
}
