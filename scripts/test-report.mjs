// What the README's test command reads from vitest's JSON report, and the
// reasons it turns a run red that vitest's own summary leaves far up the
// output. Apart from scripts/test.mjs so a test can feed it a real report.

/**
 * Counts, the tests that did not run, the tests that failed (each with the
 * first line of its first failure: a CI log often keeps only its last lines,
 * far below vitest's own account), and the files that failed outside any
 * test (a hook that threw or timed out, an error at load: every test in such
 * a file may have passed), from a parsed vitest JSON report. Paths are shown
 * relative to `repository`.
 */
export function summarizeReport(report, repository) {
  const relative = (name) => name.replace(`${repository}/`, '');
  const notRun = [];
  const failedTests = [];
  for (const file of report.testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      if (['pending', 'skipped', 'todo', 'disabled'].includes(test.status)) notRun.push(`${relative(file.name)} > ${test.fullName} (${test.status})`);
      if (test.status === 'failed') failedTests.push({ name: `${relative(file.name)} > ${test.fullName}`, message: firstLine(test.failureMessages?.[0]) });
    }
  }
  const counted = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  if (counted > notRun.length) notRun.push(`${counted - notRun.length} more not listed by name`);
  const failedFiles = (report.testResults ?? [])
    .filter((file) => file.status === 'failed' && !(file.assertionResults ?? []).some((test) => test.status === 'failed'))
    .map((file) => ({ name: relative(file.name), message: file.message ?? '' }));
  return { passed: report.numPassedTests, failed: report.numFailedTests, notRun, failedTests, failedFiles };
}

/** The first non-empty line of a failure message, at most 300 characters. */
function firstLine(message) {
  const line = (message ?? '').split('\n').find((text) => text.trim() !== '') ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/**
 * Why a run whose tests did not fail is red anyway: each file that failed
 * outside its tests, or vitest's non-zero exit with nothing failed (an
 * unhandled error, a global setup's teardown). Failed tests are not listed
 * here: the closing lines name them.
 */
export function failuresBeyondTests(status, summary) {
  const failures = summary.failedFiles.map((file) => `${file.name}: ${file.message || "failed outside its tests (see vitest's output above)"}`);
  if (status !== 0 && summary.failed === 0 && failures.length === 0) {
    failures.push(`vitest exited ${status} though no test and no file failed: an unhandled error or a global setup or teardown failure (vitest's "Errors" lines above name it)`);
  }
  return failures;
}
