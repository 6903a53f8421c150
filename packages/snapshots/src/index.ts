/**
 * @unwind/snapshots — Verified snapshots of a directory tree: create, restore, retention, and a snapshot step.
 *
 * @packageDocumentation
 */
export {};
