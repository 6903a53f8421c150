import type { Cause } from '@unwind/core';
import type { ReconcileReport } from '@unwind/reconcile';

/**
 * A refusal's cause in plain words: the lock's holder, or the cause's own message.
 *
 * @example
 * ```ts
 * if (report.cause) console.error(`container-reconciler: ${refusal(report.cause)}; nothing was changed`);
 * ```
 */
export function refusal(cause: Cause): string {
  if (cause.code !== 'LOCK_HELD') return cause.message;
  const h = cause.holder;
  return `another run holds the lock (pid ${h.pid} on ${h.host}, since ${h.acquiredAt}${h.purpose ? `, ${h.purpose}` : ''})`;
}

/**
 * Plain words for the person running it: one line per container, then how the run ended.
 *
 * @example
 * ```ts
 * console.log(formatReport(await reconcileContainers(config)));
 * // failed         web: create failed at step 8 (restart web.service (user web)): ...; rolled back, this item is as it was before
 * ```
 */
export function formatReport(report: ReconcileReport): string {
  const lines: string[] = [];
  for (const r of report.recovered) lines.push(`recovered an unfinished transaction of an earlier run: ${r.name} → ${r.result}`);
  for (const p of report.problems) lines.push(`problem: ${p.key ? `${p.key}: ` : ''}${p.message}`);
  for (const item of report.items) lines.push(`${item.outcome.padEnd(14)} ${item.key}: ${item.message}`);
  const failed = report.items.filter((i) => i.outcome === 'failed' || i.outcome === 'skipped').length;
  lines.push(
    report.status === 'refused'
      ? report.cause
        ? `Nothing was changed: ${refusal(report.cause)}.`
        : 'Nothing was changed: the desired state has problems (listed above).'
      : failed > 0
        ? `${failed} of ${report.items.length} items failed; each failed item was rolled back on its own, the others were applied.`
        : `All ${report.items.length} items are as desired.`,
  );
  if (report.statusFile) lines.push(`Status written to ${report.statusFile}`);
  return lines.join('\n');
}
