#!/usr/bin/env node
// Runs every test project inside one throw-away machine: a real systemd as
// PID 1 of private namespaces, on a tmpfs overlay of `/` (see
// packages/core/src/testing/machine.ts). Every test meets real systemd,
// logind and user managers and the machine's own /etc/passwd, and nothing it
// does reaches the host: the run fails if the host's /etc, lastlog, faillog,
// /var/lib/systemd, mount table or processes differ afterwards.
//
// The run fails (exit 1) when not run as root or when any test was skipped,
// unless UNWIND_TEST_ALLOW_SKIPS=1 (or --allow-skips) is given; then it lists
// exactly what did not run. CI never gives it.
//
// Knobs: UNWIND_MACHINE_SYSTEMD=PATH boots another system manager binary (a
// missing one must turn the run red); UNWIND_MACHINE_CONSOLE=FILE keeps the
// machine's console output; UNWIND_TEST_REPORT=FILE keeps vitest's JSON report
// (every file's and test's duration: where the test time goes). The kill tests' and the fuzz's
// knobs (UNWIND_KILL_*, UNWIND_FUZZ_SEED, UNWIND_FUZZ_CASES) are passed into the machine.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { hostDifferences, hostState, leftoverProcesses, processIds } from './host-state.mjs';
import { failuresBeyondTests, summarizeReport } from './test-report.mjs';

const repository = join(import.meta.dirname, '..');
// vitest's package exports do not include its bin; it lives at the package root.
const vitest = join(repository, 'node_modules', 'vitest', 'vitest.mjs');

const passThrough = process.argv.slice(2).filter((argument) => argument !== '--allow-skips');
const allowSkips = process.env.UNWIND_TEST_ALLOW_SKIPS === '1' || process.argv.includes('--allow-skips');
const isRoot = process.getuid?.() === 0;

// A JSON report beside the usual output, for one plain closing line and the skip count.
const reportDirectory = mkdtempSync(join(tmpdir(), 'unwind-test-report-'));
const reportFile = join(reportDirectory, 'report.json');
const vitestArguments = ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...passThrough];
const nodeOptions = process.env.NODE_OPTIONS ?? '';
// The power-loss tests append one line per explored run (kind, crash states checked, divergences, seed): summed up at the end.
const crashSummary = join(reportDirectory, 'crash-states.txt');

const failures = [];
let status;

if (!isRoot) {
  failures.push('not run as root: the tests need a throw-away machine (new namespaces, mounts, systemd as PID 1); run as root, or, knowing what is not tested, set UNWIND_TEST_ALLOW_SKIPS=1');
  if (allowSkips) {
    console.warn('unwind tests: not root — running on this host without a machine; every real-component test will be reported as not run');
    status = spawnSync(process.execPath, [vitest, ...vitestArguments], { stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: nodeOptions, UNWIND_CRASH_SUMMARY: crashSummary } }).status;
  }
} else {
  status = await runInMachine();
}

const summary = status === undefined ? undefined : readReport();
if (status === undefined) {
  // nothing ran: the reason is already among the failures
} else if (summary) {
  const notRun = summary.notRun.length;
  printCrashSummary();
  console.log(`\nunwind: ${summary.passed} passed, ${summary.failed} failed${notRun ? `, ${notRun} skipped` : ''}`);
  for (const test of summary.failedTests) console.log(`unwind: failed: ${test.name}${test.message ? `\n    ${test.message}` : ''}`);
  // vitest's own lines for a file that failed outside its tests, or for an unhandled error, are far up the output.
  failures.push(...failuresBeyondTests(status, summary));
  if (notRun) {
    if (allowSkips) {
      console.log(`unwind: UNWIND_TEST_ALLOW_SKIPS is set; these ${notRun} tests did NOT run:`);
      for (const test of summary.notRun) console.log(`  - ${test}`);
    } else {
      failures.push(`${notRun} tests were skipped (every test must run; UNWIND_TEST_ALLOW_SKIPS=1 accepts that and lists them):\n${summary.notRun.map((test) => `  - ${test}`).join('\n')}`);
    }
  }
} else {
  console.log('\nunwind: the test run wrote no report');
  failures.push('the test run wrote no report');
}
if (process.env.UNWIND_TEST_REPORT) {
  try {
    copyFileSync(reportFile, process.env.UNWIND_TEST_REPORT);
  } catch (error) {
    console.warn(`unwind: could not keep the JSON report: ${error.message}`);
  }
}
rmSync(reportDirectory, { recursive: true, force: true });

const ignored = !isRoot && allowSkips ? failures.splice(0) : [];
for (const reason of ignored) console.warn(`unwind: accepted because UNWIND_TEST_ALLOW_SKIPS is set: ${reason}`);
for (const failure of failures) console.error(`unwind: FAILED: ${failure}`);
process.exit(failures.length ? 1 : (status ?? 1));

/**
 * Boots the machine, runs vitest inside it, stops it, and checks the host.
 * Returns vitest's exit status, or undefined when no machine could boot (the
 * reason is among the failures: a missing systemd is a red run, never a
 * smaller one).
 */
async function runInMachine() {
  const { bootMachine, cannotBootMachine } = await tsImport(pathToFileURL(join(repository, 'packages/core/src/testing/machine.ts')).href, import.meta.url);
  const systemd = process.env.UNWIND_MACHINE_SYSTEMD || '/lib/systemd/systemd';
  const cannot = cannotBootMachine(systemd);
  if (cannot) {
    failures.push(`cannot boot the throw-away machine every test runs in: ${cannot}`);
    return undefined;
  }
  // Marks every host process this run starts, to find any still alive at the end.
  const marker = `UNWIND_TEST_RUN=${randomBytes(8).toString('hex')}`;
  process.env[marker.split('=')[0]] = marker.split('=')[1];
  const hostBefore = hostState();
  const processesBefore = processIds();

  let machine;
  const started = Date.now();
  try {
    machine = await bootMachine({
      name: 'unwind-test',
      bind: [repository, reportDirectory],
      systemd,
      ...(process.env.UNWIND_MACHINE_CONSOLE ? { consoleLog: process.env.UNWIND_MACHINE_CONSOLE } : {}),
    });
  } catch (error) {
    failures.push(`${error.message}${error.context?.console ? `\n--- machine console ---\n${error.context.console}` : ''}`);
    return undefined;
  }
  console.log(`unwind tests: machine booted (${machine.bootState}) in ${Date.now() - started} ms; running every test inside it`);

  // The kill tests' knobs too (a sample's size and seed): without them UNWIND_KILL_POINTS=0 would not reach the tests.
  const passedEnvironment = Object.fromEntries(
    ['TERM', 'CI', 'COLORTERM', 'FORCE_COLOR', 'NO_COLOR', 'UNWIND_KILL_POINTS', 'UNWIND_KILL_SEED', 'UNWIND_CRASH_SEED', 'UNWIND_KILL_ONLY', 'UNWIND_KILL_SCENARIO', 'UNWIND_FUZZ_SEED', 'UNWIND_FUZZ_CASES'].filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]),
  );
  const [program, ...args] = machine.commandLine([process.execPath, vitest, ...vitestArguments], {
    cwd: process.cwd().startsWith(repository) ? process.cwd() : repository,
    env: { ...passedEnvironment, NODE_OPTIONS: nodeOptions, UNWIND_IN_MACHINE: '1', UNWIND_IN_NAMESPACE: '1', UNWIND_CRASH_SUMMARY: crashSummary },
  });
  const result = spawnSync(program, args, { stdio: 'inherit' });

  try {
    await machine.stop();
  } catch (error) {
    failures.push(`machine teardown: ${error.message}`);
  }
  const differences = hostDifferences(hostBefore, hostState(), machine.cgroups);
  if (differences.length) failures.push(`the run changed the host:\n${differences.map((line) => `  ${line}`).join('\n')}`);
  const left = leftoverProcesses(processesBefore, marker);
  if (left.length) failures.push(`processes started by the run are still alive on the host:\n${left.map((line) => `  ${line}`).join('\n')}`);
  else console.log('unwind tests: host unchanged (/etc, lastlog, faillog, /var/lib/systemd, mounts, cgroups, processes)');
  return result.status ?? 1;
}

/** The JSON report, summarized (see test-report.mjs); undefined when vitest wrote none. */
function readReport() {
  let report;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch {
    return undefined;
  }
  return summarizeReport(report, repository);
}

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
