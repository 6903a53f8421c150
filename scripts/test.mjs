#!/usr/bin/env node
// Runs every test project, and fails when any test was skipped or the run is
// not root (a suite whose real-component tests skip proves nothing), unless
// the user opts out with UNWIND_TEST_ALLOW_SKIPS=1 — then it lists exactly
// what did not run. CI never opts out.
// As root, the run happens inside a private mount
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

// The power-loss tests append one line per explored run (kind, crash states checked, divergences, seed): summed up at the end.
const crashSummary = join(reportDir, 'crash-states.txt');
const env = { ...process.env, UNWIND_CRASH_SUMMARY: crashSummary };

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
const allowSkips = process.env.UNWIND_TEST_ALLOW_SKIPS === '1';
let status = result.status ?? 1;
let report;
try {
  report = JSON.parse(readFileSync(reportFile, 'utf8'));
} catch {
  console.log('\nunwind: the test run wrote no report');
  status = 1;
}
if (report) {
  const notRun = report.testResults.flatMap((file) =>
    file.assertionResults.filter((test) => ['pending', 'skipped', 'todo', 'disabled'].includes(test.status)).map((test) => `${file.name}: ${test.fullName}`),
  );
  const skipped = Math.max(notRun.length, report.numPendingTests + report.numTodoTests);
  if (skipped > 0) {
    console.log(`\nunwind: ${skipped} test(s) did not run:`);
    for (const line of notRun) console.log(`  - ${line}`);
    if (!allowSkips) {
      console.log('unwind: FAILED — a skipped test proves nothing. Run as root with unshare; or, knowing what is not tested, set UNWIND_TEST_ALLOW_SKIPS=1.');
      status = status || 1;
    }
  }
  if (!isRoot && !allowSkips) {
    console.log('unwind: FAILED — not run as root: the real-component tests need root (set UNWIND_TEST_ALLOW_SKIPS=1 to run what can run).');
    status = status || 1;
  }
  printCrashSummary();
  console.log(`\nunwind: ${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
}
rmSync(reportDir, { recursive: true, force: true });
process.exit(status);

/** The crash-state explorer's runs of this test run, one line each, sorted by name. */
function printCrashSummary() {
  let lines;
  try {
    lines = readFileSync(crashSummary, 'utf8').split('\n').filter(Boolean).sort();
  } catch {
    return; // no power-loss test ran (a filtered run)
  }
  const states = lines.reduce((sum, line) => sum + Number(/(\d+) distinct checked/.exec(line)?.[1] ?? 0), 0);
  const divergences = lines.reduce((sum, line) => sum + Number(/(\d+) divergences/.exec(line)?.[1] ?? 0), 0);
  console.log(`\nunwind: power loss — ${lines.length} explored runs, ${states} crash states recovered and checked, ${divergences} divergences (expected ones included: a test that removes a sync on purpose must find some):`);
  for (const line of lines) console.log(`  ${line}`);
}
