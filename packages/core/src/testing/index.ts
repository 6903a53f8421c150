/**
 * Test helpers for step kinds: the conformance suite every kind must pass,
 * a context for calling a kind directly, and core's own test kinds.
 *
 * @packageDocumentation
 */
export { conformanceSuite } from './conformance.js';
export type { ConformanceOptions, ConformanceSandbox } from './conformance.js';
export { testContext } from './context.js';
export { failingStep, noopStep, writeMarker, stagedRemove, testKinds } from './kinds.js';
export { treeState } from './tree.js';
export type { TreeEntry } from './tree.js';
