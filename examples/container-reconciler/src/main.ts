/**
 * container-reconciler: reconcile a directory of `<name>.service` files to
 * dedicated users and their units.
 *
 *   node --import tsx src/main.ts --desired DIR --state DIR [--prefix ROOT] [--deny a,b]
 *        [--allow-dir NAME]... [--group NAME] [--marker TEXT] [--linger-dir DIR] [--loginctl PROG]
 *        [--systemctl PROG] [--timeout MS] [--settle MS]
 *        [--shared-unit-dir DIR --shared-home DIR --shared-runtime-dir DIR] [--json]
 *
 * Exit codes: 0 converged; 1 a container failed and was rolled back; 2 a rollback did not
 * finish (the report says how to resume); 3 another run holds the lock; 4 invalid input,
 * nothing changed.
 */
import { parseArgs } from 'node:util';
import type { Cause } from '@unwind/core';
import type { ReconcileReport } from '@unwind/reconcile';
import { reconcileContainers, type ReconcilerConfig } from './reconciler.js';

/**
 * Plain words for the person running it: one line per container, then how the run ended.
 *
 * @example
 * ```ts
 * console.log(formatReport(await reconcileContainers(config)));
 * // failed         web: create failed at step 7 (restart web.service (user web)): ...; rolled back, this item is as it was before
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

/**
 * Parses the command line into a config (without `exec`).
 *
 * @example
 * ```ts
 * configFrom(['--desired', '/srv/desired', '--state', '/var/lib/cr', '--deny', 'admin']).config.deny; // ['admin']
 * ```
 */
export function configFrom(argv: string[]): { config: ReconcilerConfig; json: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      desired: { type: 'string' },
      state: { type: 'string' },
      prefix: { type: 'string' },
      deny: { type: 'string' },
      'allow-dir': { type: 'string', multiple: true },
      group: { type: 'string' },
      marker: { type: 'string' },
      'linger-dir': { type: 'string' },
      loginctl: { type: 'string' },
      systemctl: { type: 'string' },
      timeout: { type: 'string' },
      settle: { type: 'string' },
      'shared-unit-dir': { type: 'string' },
      'shared-home': { type: 'string' },
      'shared-runtime-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.desired || !values.state) throw new Error('--desired DIR and --state DIR are required');
  const number = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const config: ReconcilerConfig = {
    desiredDir: values.desired,
    stateDir: values.state,
    ...(values.prefix ? { prefix: values.prefix } : {}),
    ...(values.deny ? { deny: values.deny.split(',').filter(Boolean) } : {}),
    ...(values['allow-dir'] ? { allowedDirs: values['allow-dir'] } : {}),
    ...(values.group ? { group: values.group } : {}),
    ...(values.marker ? { marker: values.marker } : {}),
    ...(values['linger-dir'] ? { lingerDir: values['linger-dir'] } : {}),
    ...(values.loginctl ? { loginctl: values.loginctl } : {}),
    ...(values.systemctl ? { systemSystemctl: values.systemctl } : {}),
    ...(values.timeout ? { commandTimeoutMs: number(values.timeout)! } : {}),
    ...(values.settle ? { settleMs: number(values.settle)! } : {}),
    ...(values['shared-unit-dir']
      ? { target: { kind: 'shared' as const, manager: { scope: 'user' as const, unitDir: values['shared-unit-dir'], ...(values['shared-home'] ? { home: values['shared-home'] } : {}), ...(values['shared-runtime-dir'] ? { runtimeDir: values['shared-runtime-dir'] } : {}) } } }
      : {}),
  };
  return { config, json: values.json === true };
}

function refusal(cause: Cause): string {
  if (cause.code !== 'LOCK_HELD') return cause.message;
  const h = cause.holder;
  return `another run holds the lock (pid ${h.pid} on ${h.host}, since ${h.acquiredAt}${h.purpose ? `, ${h.purpose}` : ''})`;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = configFrom(process.argv.slice(2));
  } catch (error) {
    console.error(`container-reconciler: ${(error as Error).message}`);
    return 4;
  }
  try {
    const report = await reconcileContainers(parsed.config);
    // Refused before the run took its lock (another run holds it, or the journal root cannot be used): one line, no report.
    if (report.cause && !parsed.json) {
      console.error(`container-reconciler: ${refusal(report.cause)}; nothing was changed`);
      return report.exitCode;
    }
    console.log(parsed.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.exitCode;
  } catch (error) {
    console.error(`container-reconciler: ${(error as Error).stack ?? error}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
