/**
 * The README's test command turns a run red for what vitest's summary
 * leaves far up the output: a file that failed outside its tests (a hook
 * that threw or timed out) and a non-zero exit with nothing failed (an
 * unhandled error). Fed here with real vitest reports of small runs.
 */
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, workspaceRoot } from '@unwind/core/testing';

interface Summary {
  passed: number;
  failed: number;
  notRun: string[];
  failedTests: Array<{ name: string; message: string }>;
  failedFiles: Array<{ name: string; message: string }>;
}
interface TestReportModule {
  summarizeReport(report: unknown, repository: string): Summary;
  failuresBeyondTests(status: number | null, summary: Summary): string[];
}

const repository = workspaceRoot(import.meta.dirname);
const { summarizeReport, failuresBeyondTests } = (await import(join(repository, 'scripts/test-report.mjs'))) as TestReportModule;
const vitest = join(repository, 'node_modules', 'vitest', 'vitest.mjs');

const work = temporaryDirectory('unwind-test-report-');
afterAll(() => work.remove());
// globals: the files need no import of vitest, which does not resolve from a temporary directory.
fs.writeFileSync(join(work.path, 'vitest.config.mjs'), "export default { test: { include: ['*.test.js'], globals: true } };\n");

/** Runs vitest on one file holding `source` and returns its exit status and summarized JSON report. */
function runFile(name: string, source: string): { status: number | null; summary: Summary } {
  fs.writeFileSync(join(work.path, `${name}.test.js`), source);
  const report = join(work.path, `${name}.json`);
  const result = spawnSync(process.execPath, [vitest, 'run', '--root', work.path, '--reporter=json', `--outputFile.json=${report}`, `${name}.test.js`], { encoding: 'utf8', timeout: 60_000 });
  const parsed = JSON.parse(fs.readFileSync(report, 'utf8')) as unknown;
  fs.rmSync(join(work.path, `${name}.test.js`));
  return { status: result.status, summary: summarizeReport(parsed, work.path) };
}

describe('the closing lines of the test command', () => {
  it('name a file whose afterAll threw, though its test passed', () => {
    const { status, summary } = runFile('throwing-hook', "afterAll(() => { throw new Error('teardown broke'); });\nit('passes', () => { expect(1).toBe(1); });\n");
    expect(status).toBe(1);
    expect(summary).toMatchObject({ passed: 1, failed: 0, notRun: [] });
    expect(failuresBeyondTests(status, summary)).toEqual(['throwing-hook.test.js: teardown broke']);
  });

  it('name a file whose afterAll outlived its timeout', () => {
    const { status, summary } = runFile('slow-hook', "afterAll(() => new Promise((resolve) => setTimeout(resolve, 3000)), 100);\nit('passes', () => { expect(1).toBe(1); });\n");
    expect(status).toBe(1);
    expect(summary.failed).toBe(0);
    const failures = failuresBeyondTests(status, summary);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^slow-hook\.test\.js: Hook timed out in 100ms/);
  });

  it('say that vitest exited non-zero when an unhandled error failed no test and no file', () => {
    const { status, summary } = runFile('unhandled', "it('passes', () => { setTimeout(() => { throw new Error('late'); }, 0); });\nit('waits', async () => { await new Promise((resolve) => setTimeout(resolve, 50)); });\n");
    expect(status).toBe(1);
    expect(summary).toMatchObject({ passed: 2, failed: 0, failedFiles: [] });
    expect(failuresBeyondTests(status, summary)).toEqual([expect.stringMatching(/^vitest exited 1 though no test and no file failed/)]);
  });

  it('add nothing to a clean run, and leave failed tests to the count and their list', () => {
    const clean = runFile('clean', "it('passes', () => { expect(1).toBe(1); });\n");
    expect(clean.status).toBe(0);
    expect(failuresBeyondTests(clean.status, clean.summary)).toEqual([]);
    const red = runFile('red', "it('fails', () => { expect(1).toBe(2); });\n");
    expect(red.status).toBe(1);
    expect(red.summary).toMatchObject({ passed: 0, failed: 1, failedFiles: [] });
    expect(clean.summary.failedTests).toEqual([]);
    expect(red.summary.failedTests).toEqual([{ name: 'red.test.js > fails', message: expect.stringContaining('expected 1 to be 2') }]);
    expect(failuresBeyondTests(red.status, red.summary)).toEqual([]);
  });

  it('list a skipped test by name', () => {
    const { summary } = runFile('skipping', "it.skip('is skipped', () => {});\nit('passes', () => {});\n");
    expect(summary.notRun).toEqual(['skipping.test.js > is skipped (skipped)']);
  });
});
