import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  describeOutcome,
  exitCodeOf,
  fileJournal,
  recover,
  transaction,
  type AnyStepKind,
  type EventListener,
  type JournalRecord,
  type Outcome,
  type RecoveryReport,
  type Step,
  type StepHandle,
  recoveryRefusal,
} from '@unwind/core';
import { addSteps, type TestHooks } from '@unwind/core/testing/helpers';
import { exitOnThirdSignal } from '@unwind/cli';
import { kinds as fileKinds, move, remove, writeFile } from '@unwind/files';
import { kinds as snapshotKinds, snapshot } from '@unwind/snapshots';
import { lockHolds } from './check-lock-step.js';
import { checkLock } from './check-lock.js';
import { fetchArtifacts, fetchedPath, type Fetched } from './fetch-step.js';
import { LOCK, MANIFEST, lockKey, readLock, readManifest, type LockEntry, type ManifestArtifact } from './format.js';
import { rewriteLock, rewriteManifest, skillmeatTime, type Resolved } from './rewrite.js';
import { UPSTREAM_INDEX, readUpstreamIndex, type UpstreamOffer } from './upstream.js';

/**
 * Options of {@link update}.
 *
 * @example
 * ```ts
 * const options: UpdateOptions = { collectionDir: '/sb/collection', source: '/sb/upstream', journalRoot: '/sb/var/lib/unwind-collection', workspaceRoot: '/sb' };
 * ```
 */
export interface UpdateOptions extends TestHooks {
  /** The skillmeat collection directory (collection.toml, collection.lock, skills/, commands/, agents/ …). */
  collectionDir: string;
  /** The local upstream directory standing in for GitHub: upstream.toml and the artifacts' content. */
  source: string;
  /** The journal root; the pre-update snapshot lives here unless `snapshotStore` is given. */
  journalRoot: string;
  /** Where the temp workspace is made; on the collection's filesystem (artifacts are renamed into place). */
  workspaceRoot: string;
  /** The time written as `updated`, `last_updated` and `fetched` (default: now). */
  now?: Date;
  /** Keep snapshots in this store (newest `keepSnapshots` kept) instead of deleting it at commit. */
  snapshotStore?: string;
  keepSnapshots?: number;
  /** If the pre-update snapshot cannot be made, update anyway (loudly). */
  forceWithoutSnapshot?: boolean;
  /** Plan only: touch nothing. */
  dryRun?: boolean;
  /** Receives loud warnings as they happen (default: none; they are also in the message). */
  warn?: (line: string) => void;
  onEvent?: EventListener;
  /** Quoted in messages as the way to finish a stuck rollback. */
  recoverCommand?: string;
  handleSignals?: boolean;
}

/**
 * How an update ended.
 *
 * @example
 * ```ts
 * const result = await update(options);
 * console.log(result.message);
 * process.exitCode = result.exitCode;
 * ```
 */
export interface UpdateResult {
  status: Outcome['status'] | 'up-to-date' | 'planned';
  recovered: RecoveryReport;
  outcome?: Outcome;
  /** True when the update ran without a pre-update snapshot (--force-without-snapshot). */
  withoutSnapshot: boolean;
  /** The temp workspace this run used (gone when the run returns). */
  workspace?: string;
  /** The artifacts (name::type) the update changes. */
  changes?: string[];
  message: string;
  exitCode: number;
}

/**
 * Every step kind an update's journal may name.
 *
 * @example
 * ```ts
 * await recover({ root: journalRoot, kinds: updateKinds });
 * ```
 */
export const updateKinds: readonly AnyStepKind[] = [...fileKinds, ...snapshotKinds, fetchArtifacts, lockHolds];

/**
 * Finishes or rolls back an interrupted update (the update runs this first).
 *
 * @example
 * ```ts
 * const report = await recoverUpdate({ journalRoot: '/var/lib/collection/unwind' });
 * ```
 */
export function recoverUpdate(options: { journalRoot: string; extraKinds?: readonly AnyStepKind[]; onEvent?: EventListener }): Promise<RecoveryReport> {
  return recover({ root: options.journalRoot, kinds: [...updateKinds, ...(options.extraKinds ?? [])], ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
}

/**
 * One line per transaction recovery finished or found stuck, for messages.
 *
 * @example
 * ```ts
 * console.log(describeRecovery(await recoverUpdate({ journalRoot })).join('\n'));
 * ```
 */
export function describeRecovery(report: RecoveryReport): string[] {
  const refusal = recoveryRefusal(report); // another live run holds the lock, or recovery could not start
  if (refusal) return [refusal.message];
  return report.transactions
    .filter((t) => t.result !== 'already-finished')
    .map((t) =>
      t.result === 'rolled-back'
        ? `An interrupted update (${t.id}) was found and rolled back first.`
        : t.result === 'committed'
          ? `An interrupted update (${t.id}) had passed its commit point; its clean-up was finished first.`
          : `An earlier update (${t.id}) is still unfinished (${t.result}${t.error ? `: ${t.error.message}` : ''}).`,
    );
}

/** One artifact to update: what the manifest says, what the upstream offers. */
interface Change {
  artifact: ManifestArtifact;
  offer: UpstreamOffer;
  key: string;
  /** The commit the collection has now (lock first, as skillmeat reads it). */
  from: string | undefined;
}

/** Artifacts with an upstream whose offered commit differs from the locked one; local ones never change. */
function changesOf(artifacts: ManifestArtifact[], lock: Map<string, LockEntry>, offers: Map<string, UpstreamOffer>): Change[] {
  return artifacts.flatMap((artifact) => {
    const offer = artifact.origin === 'local' || !artifact.upstream ? undefined : offers.get(artifact.upstream);
    const key = lockKey(artifact);
    const from = lock.get(key)?.resolved_sha ?? artifact.resolved_sha;
    return offer && offer.resolved_sha !== from ? [{ artifact, offer, key, from }] : [];
  });
}

const describeChange = (c: Change) => `${c.key} ${c.artifact.resolved_version ?? c.from?.slice(0, 12) ?? '(unresolved)'} -> ${c.offer.resolved_version ?? c.offer.resolved_sha.slice(0, 12)}`;

function refused(recovered: RecoveryReport, message: string, extra: Partial<UpdateResult> = {}): UpdateResult {
  return { status: 'refused', recovered, withoutSnapshot: false, message, exitCode: 4, ...extra };
}

/** True when the outcome failed because the snapshot (the first step) could not be made. */
function snapshotFailed(outcome: Outcome): boolean {
  const first = outcome.steps[0];
  if (outcome.status === 'refused') return first?.type === 'snapshots.snapshot' && /snapshot/i.test(outcome.cause.message);
  return outcome.status === 'rolled-back' && first?.type === 'snapshots.snapshot' && first.error !== undefined;
}

function causeOf(outcome: Outcome): string {
  const first = outcome.steps[0];
  return first?.error?.message ?? ('cause' in outcome ? outcome.cause.message : 'unknown error');
}

/** The lock entries an update writes: content hash, fetch time and resolution of each changed artifact. */
function lockUpdates(changes: Change[], lock: Map<string, LockEntry>, now: string, hashOf: (c: Change) => string): Map<string, LockEntry> {
  return new Map(
    changes.map((c) => {
      const entry: LockEntry = { ...lock.get(c.key)!, content_hash: hashOf(c), fetched: now, resolved_sha: c.offer.resolved_sha };
      if (c.offer.resolved_version) entry.resolved_version = c.offer.resolved_version;
      return [c.key, entry];
    }),
  );
}

/**
 * Updates the artifacts of a skillmeat collection whose upstream offers a
 * new commit, all or nothing: snapshot the collection, fetch into a temp
 * workspace, set each old artifact aside and rename the new one in, rewrite
 * only the changed lines of collection.toml and collection.lock atomically,
 * check the lock against the disk. Any failure restores the
 * whole collection from the snapshot (verified against its hashes); the
 * workspace is removed on every outcome. If the snapshot cannot be made the
 * update is refused, unless `forceWithoutSnapshot`.
 *
 * @example
 * ```ts
 * const result = await update({ collectionDir, source, journalRoot, workspaceRoot, onEvent: renderProgress() });
 * console.log(result.message);
 * ```
 */
export async function update(options: UpdateOptions): Promise<UpdateResult> {
  const dir = resolve(options.collectionDir);
  const source = resolve(options.source);
  const journalRoot = resolve(options.journalRoot);
  const recoverCommand = options.recoverCommand ?? `unwind recover --root ${journalRoot}`;
  const empty: RecoveryReport = { transactions: [], ok: true, cleanupErrors: [] };

  const recovered = options.dryRun ? empty : await recoverUpdate({ journalRoot, ...(options.extraKinds ? { extraKinds: options.extraKinds } : {}) });
  const notes = describeRecovery(recovered);
  const say = (...lines: string[]) => [...notes, ...lines].join('\n');
  const refusal = recoveryRefusal(recovered);
  if (refusal) return refused(recovered, refusal.message, { exitCode: refusal.exitCode });
  if (!recovered.ok) return refused(recovered, say(`Nothing new was changed. Fix the cause, then run: ${recoverCommand}`));

  const manifestPath = join(dir, MANIFEST);
  const lockPath = join(dir, LOCK);
  let changes: Change[];
  let manifestText: string;
  let lockText: string;
  let nextManifest: string;
  let name: string;
  const now = skillmeatTime(options.now ?? new Date());
  try {
    manifestText = fs.readFileSync(manifestPath, 'utf8');
    lockText = fs.readFileSync(lockPath, 'utf8');
    const manifest = readManifest(manifestText, manifestPath);
    name = manifest.name;
    const lock = readLock(lockText, lockPath);
    const offers = readUpstreamIndex(fs.readFileSync(join(source, UPSTREAM_INDEX), 'utf8'), join(source, UPSTREAM_INDEX));
    const inconsistent = checkLock(dir);
    if (inconsistent.length > 0) {
      return refused(recovered, say(`Nothing was changed: the collection does not match its lock (${inconsistent.join('; ')}). Repair it (or let skillmeat sync it) before updating.`));
    }
    changes = changesOf(manifest.artifacts, lock, offers);
    const resolved = new Map<string, Resolved>(changes.map((c) => [c.key, { resolved_sha: c.offer.resolved_sha, ...(c.offer.resolved_version ? { resolved_version: c.offer.resolved_version } : {}) }]));
    nextManifest = rewriteManifest(manifestText, manifestPath, resolved, now);
    // Prove now, before anything is touched, that the lock can be rewritten line by line (the real hashes come from the fetch).
    rewriteLock(lockText, lockPath, lockUpdates(changes, lock, now, (c) => c.offer.content_hash ?? lock.get(c.key)!.content_hash));
  } catch (error) {
    return refused(recovered, say(`Nothing was changed: ${(error as Error).message}`));
  }
  const base = { recovered, changes: changes.map((c) => c.key) };
  if (changes.length === 0) {
    return { ...base, status: 'up-to-date', withoutSnapshot: false, exitCode: 0, message: say(`Nothing to do: every artifact of ${name} with an upstream is at the commit its upstream offers.`) };
  }
  const lockEntries = readLock(lockText, lockPath);

  const workspaceRoot = resolve(options.workspaceRoot);
  const workspace = join(workspaceRoot, `collection-update-${randomBytes(6).toString('hex')}`);

  const build = (withSnapshot: boolean) => {
    const tx = transaction(`update ${name}: ${changes.map((c) => c.key).join(', ')}`, {
      journal: fileJournal({ root: journalRoot, ...(options.afterAppend ? { afterAppend: options.afterAppend } : {}) }),
      handleSignals: options.handleSignals ?? true,
      onThirdSignal: exitOnThirdSignal(process.stderr, recoverCommand),
      resumeHint: recoverCommand,
      meta: { collection: dir, changes: changes.map((c) => c.key), snapshot: withSnapshot },
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    const steps: Array<Step<any, any, any>> = [];
    const labels: string[] = [];
    let fetched: StepHandle<Fetched> | undefined;
    const add = (label: string, step: Step<any, any, any>) => {
      labels.push(label);
      steps.push(step);
    };
    if (withSnapshot) add(`snapshot ${dir} (restored and verified on any failure)`, snapshot({ path: dir, ...(options.snapshotStore ? { store: resolve(options.snapshotStore), keepLast: options.keepSnapshots ?? 3 } : {}) }));
    add(`fetch ${changes.length} artifact(s) from ${source} into a temp workspace`, fetchArtifacts({ source, workspace, artifacts: changes.map((c) => ({ key: c.key, from: c.offer.path, ...(c.offer.content_hash ? { content_hash: c.offer.content_hash } : {}) })) }));
    const fetchPosition = steps.length - 1;
    for (const c of changes) {
      const target = join(dir, c.artifact.path);
      add(`set aside the old ${c.artifact.path} (staged; deleted only after the commit)`, remove({ paths: [target], stagingDir: workspaceRoot }));
      add(`put ${describeChange(c)} in place at ${c.artifact.path} (rename)`, move({ from: fetchedPath(workspace, c.key), to: target }));
    }
    add(`rewrite ${MANIFEST} (changed lines only, atomic)`, writeFile({ path: manifestPath, content: nextManifest }));
    // The lock's hashes are the fetched content's (what was put in place).
    add(
      `rewrite ${LOCK} with the fetched content's hashes (changed entries only, atomic)`,
      writeFile((get) => {
        const hashes = new Map(get(fetched!).files.map((f) => [f.key, f.content_hash]));
        return { path: lockPath, content: rewriteLock(lockText, lockPath, lockUpdates(changes, lockEntries, now, (c) => hashes.get(c.key)!)) };
      }),
    );
    add(`check the lock against the files on disk`, lockHolds({ dir }));
    fetched = addSteps(tx, steps, options.inject)[fetchPosition] as StepHandle<Fetched>;
    // On every outcome, even one the steps never reached: the workspace goes.
    tx.finally(() => fs.rmSync(workspace, { recursive: true, force: true }));
    return { tx, labels };
  };

  if (options.dryRun) {
    const { labels } = build(true);
    return { ...base, status: 'planned', withoutSnapshot: false, exitCode: 0, message: [`Would update ${name}: ${changes.map(describeChange).join(', ')} (nothing was changed):`, ...labels.map((l, i) => `  ${i + 1}. ${l}`)].join('\n') };
  }

  let outcome = await build(true).tx.run();
  let withoutSnapshot = false;
  const lines: string[] = [];
  if (snapshotFailed(outcome)) {
    const reason = causeOf(outcome);
    if (!options.forceWithoutSnapshot) {
      return refused(
        recovered,
        say(
          `Update refused: the pre-update snapshot of ${dir} could not be made: ${reason}`,
          'Nothing was changed: an update without a way back is not run. Fix the cause, or pass --force-without-snapshot to update anyway.',
        ),
        { ...base, outcome, workspace },
      );
    }
    withoutSnapshot = true;
    const warning = [
      `WARNING: the pre-update snapshot of ${dir} could not be made: ${reason}`,
      'WARNING: updating WITHOUT A SNAPSHOT because --force-without-snapshot was given.',
      'WARNING: a failure is still undone step by step, but the restore cannot be verified against a snapshot.',
    ];
    for (const w of warning) options.warn?.(w);
    lines.push(...warning);
    outcome = await build(false).tx.run();
  }
  lines.push(describeOutcome(outcome));
  switch (outcome.status) {
    case 'committed':
      lines.push(`Updated ${name}: ${changes.map(describeChange).join(', ')}.`, 'The lock matches every artifact on disk (checked before the commit).');
      break;
    case 'rolled-back':
      lines.push(
        withoutSnapshot
          ? `The update was rolled back step by step (no snapshot): ${dir} is back as it was. The temp workspace was removed.`
          : `The update was rolled back: ${dir} was restored from the pre-update snapshot and verified against its SHA-256 hashes; it is exactly as before. The temp workspace was removed.`,
      );
      break;
    case 'rollback-failed':
      lines.push(`The collection may not match its lock until the rollback finishes. Fix the cause, then run: ${recoverCommand}`);
      break;
    case 'refused':
      break;
  }
  return { ...base, status: outcome.status, outcome, withoutSnapshot, workspace, exitCode: exitCodeOf(outcome), message: say(...lines) };
}
