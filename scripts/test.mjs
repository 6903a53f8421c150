#!/usr/bin/env node
// Runs every test project. As root, the run happens inside a private mount
// namespace (`unshare --mount`): the tmpfs mounts of the EXDEV/ENOSPC tests and
// the /run/systemd tmpfs of the systemd user manager can never leak onto the
// machine, even if a test dies before its teardown.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// vitest's package exports do not include its bin; it lives at the package root.
const vitest = join(import.meta.dirname, '..', 'node_modules', 'vitest', 'vitest.mjs');
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

// A JSON report beside the usual output, for one plain closing line: "N passed, N failed".
const reportDir = mkdtempSync(join(tmpdir(), 'unwind-test-report-'));
const reportFile = join(reportDir, 'report.json');
const args = ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...process.argv.slice(2)];
const isRoot = process.getuid?.() === 0;
const hasUnshare = spawnSync('unshare', ['--version'], { stdio: 'ignore' }).status === 0;

const env = { ...process.env };

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
try {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  const skipped = report.numPendingTests + report.numTodoTests;
  console.log(`\nunwind: ${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
} catch {
  console.log('\nunwind: the test run wrote no report');
}
rmSync(reportDir, { recursive: true, force: true });
process.exit(result.status ?? 1);
