import { packageOf, type Step } from '../step.js';

/**
 * The command that resumes a rollback that could not finish, quoted in a
 * `rollback-failed` outcome. `unwind recover` loads the kinds of the
 * `@unwind/*` adapters by itself; a transaction that used kinds of any other
 * package needs them named with `--kinds`, or recovery stops at
 * `UnknownStepTypeError`.
 *
 * @example
 * ```ts
 * defaultResumeHint('/var/lib/app/unwind', 'tx-1', [appendLine({ path, line })]);
 * // 'unwind recover --root /var/lib/app/unwind tx-1 --kinds <module exporting the step kinds of myapp>'
 * ```
 */
export function defaultResumeHint(root: string | undefined, id: string, steps: ReadonlyArray<Step<unknown, unknown, unknown>>): string {
  if (!root) return 'run the program again (memory journal: nothing was kept)';
  const custom = [...new Set(steps.map((step) => packageOf(step.kind.definition)).filter((name) => !name.startsWith('@unwind/')))];
  const kinds = custom.length > 0 ? ` --kinds <module exporting the step kinds of ${custom.join(', ')}>` : '';
  return `unwind recover --root ${root} ${id}${kinds}`;
}
