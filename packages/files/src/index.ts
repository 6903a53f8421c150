/**
 * @unwind/files — Atomic file changes, staged removal, copy, mode/owner, symlinks — as undoable steps.
 *
 * @packageDocumentation
 */
export {};
