/**
 * @unwind/reconcile — a small, generic desired-vs-actual reconciler. One
 * lock around the whole run, every input checked before any change, items in
 * sorted key order, ONE journaled transaction per item, removal only of items
 * that carry the caller's ownership marker and are not protected, per-item
 * errors collected (never masked), a status file, and a non-zero exit code
 * when any item failed.
 *
 * It has no step kinds of its own: callers plan items with the adapters'
 * kinds, so `kinds` is empty and recovery uses the adapters' lists.
 *
 * @packageDocumentation
 * @module @unwind/reconcile
 */
import type { AnyStepKind } from '@unwind/core';

export { reconcile } from './run.js';
export { diff, sortKeys, protectionOf } from './diff.js';
export type { DiffEntry, DiffKind, DiffRules } from './diff.js';
export { validateDesired, validateSteps } from './validate.js';
export type { Problem, ValidationRules } from './validate.js';
export { writeJsonAtomically, readStatusFile } from './status.js';
export { ReconcileInputError, ItemConflictError } from './errors.js';
export type { AnyStep, PlannedChange, ReconcileOptions, ReconcileReport, ItemResult, ItemOutcome } from './types.js';

/**
 * The step kinds of @unwind/reconcile: none (items are planned with the
 * adapters' kinds). Listed for symmetry with the other packages.
 *
 * @example
 * ```ts
 * await recover({ root, kinds: [...reconcileKinds, ...usersKinds, ...systemdKinds] });
 * ```
 */
export const kinds: readonly AnyStepKind[] = [];
