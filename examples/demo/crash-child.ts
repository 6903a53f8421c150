// Runs the uninstall and SIGKILLs itself right after the second group's `done` record.
import { uninstall } from '../transactional-uninstall/src/uninstall.ts';

const [stateDir, journalRoot] = process.argv.slice(2) as [string, string];
await uninstall({
  stateDir,
  journalRoot,
  afterAppend: (record) => {
    if (record.kind === 'done' && record.step === 1) process.kill(process.pid, 'SIGKILL');
  },
});
