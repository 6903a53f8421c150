#!/usr/bin/env node
// Runs every test project. As root, the run happens inside a private mount
// namespace (`unshare --mount`): the tmpfs mounts of the EXDEV/ENOSPC tests and
// the /run/systemd tmpfs of the systemd user manager can never leak onto the
// machine, even if a test dies before its teardown.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// vitest's package exports do not include its bin; it lives at the package root.
const vitest = join(import.meta.dirname, '..', 'node_modules', 'vitest', 'vitest.mjs');
const args = ['run', ...process.argv.slice(2)];
const isRoot = process.getuid?.() === 0;
const hasUnshare = spawnSync('unshare', ['--version'], { stdio: 'ignore' }).status === 0;

// Crash tests leave stale locks on purpose; their take-over warnings would bury the test output.
const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --disable-warning=UNWIND_STALE_LOCK`.trim() };

let result;
if (isRoot && hasUnshare && !process.env.UNWIND_IN_NAMESPACE) {
  result = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, vitest, ...args], {
    stdio: 'inherit',
    env: { ...env, UNWIND_IN_NAMESPACE: '1' },
  });
} else {
  if (!isRoot) console.warn('unwind tests: not root — real-component tests (shadow tools, systemd, mounts) will skip and say why');
  else if (!hasUnshare) console.warn('unwind tests: `unshare` not found — mount and systemd tests will skip and say why');
  result = spawnSync(process.execPath, [vitest, ...args], { stdio: 'inherit', env });
}
process.exit(result.status ?? 1);
