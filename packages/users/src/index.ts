/**
 * @unwind/users — Users and groups through the shadow tools, as undoable steps.
 *
 * @packageDocumentation
 */
export {};
