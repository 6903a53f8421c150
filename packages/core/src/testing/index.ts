/**
 * Test helpers for step kinds: the conformance suite every kind must pass
 * and the kill tests' suites (they need vitest), plus every framework-free helper of
 * `@unwind/core/testing/helpers` (a context for calling a kind directly,
 * core's own test kinds, and the environment helpers tests share).
 *
 * @packageDocumentation
 * @module @unwind/core/testing
 */
export { conformanceSuite } from './conformance.js';
export type { ConformanceOptions, ConformanceSandbox } from './conformance.js';
export { killTests } from './kill-tests.js';
export type { KillTestOptions } from './kill-tests.js';
export { OutsideVitestError } from './running-vitest.js';
export { startForEveryWorker, workerCount } from './every-worker.js';
export type { EveryWorker, WorkerProject } from './every-worker.js';
export * from './helpers.js';
