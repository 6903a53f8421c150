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
import { exitOnThirdSignal } from '@unwind/cli';
import { copy, ensureDir, kinds as fileKinds, writeFile } from '@unwind/files';
import { kinds as snapshotKinds, snapshot } from '@unwind/snapshots';
import { lockHolds } from './check-lock-step.js';
import { fetchArtifacts, type Fetched } from './fetch-step.js';
import { LOCK, MANIFEST, checkLock, parseDoc, renderDoc, type Artifact, type CollectionDoc } from './format.js';

/**
 * The release index a source directory holds next to its artifact files.
 *
 * @example
 * ```ts
 * const release = parseDoc(fs.readFileSync(join(source, RELEASE_INDEX), 'utf8'), RELEASE_INDEX);
 * ```
 */
export const RELEASE_INDEX = 'release.toml';

/**
 * Options of {@link update}.
 *
 * @example
 * ```ts
 * const options: UpdateOptions = { collectionDir: '/sb/collection', source: '/sb/upstream/release-1.1.0', journalRoot: '/sb/var/lib/unwind-collection', workspaceRoot: '/sb/tmp' };
 * ```
 */
export interface UpdateOptions {
  /** The collection directory (holds collection.toml, collection.lock and the artifacts). */
  collectionDir: string;
  /** The release to update to: a local directory with release.toml and the artifact files. */
  source: string;
  /** The journal root; the pre-update snapshot lives here unless `snapshotStore` is given. */
  journalRoot: string;
  /** Where the temp workspace is made. */
  workspaceRoot: string;
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
  /** Test only: extra steps after the first `afterStep` program steps. */
  inject?: Array<{ afterStep: number; step: Step<any, any, any> }>;
  /** Test only: kinds of the injected steps, for recovery. */
  extraKinds?: readonly AnyStepKind[];
  /** Test only: called after each journal record. */
  afterAppend?: (record: JournalRecord) => void;
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
  from?: string;
  to?: string;
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

function readDoc(path: string): CollectionDoc {
  return parseDoc(fs.readFileSync(path, 'utf8'), path);
}

/** What the update changes: artifacts whose version differs or that are new. */
function changesOf(manifest: CollectionDoc, release: CollectionDoc): Artifact[] {
  const current = new Map(manifest.artifacts.map((a) => [a.name, a.version]));
  return release.artifacts.filter((a) => current.get(a.name) !== a.version);
}

function newManifest(manifest: CollectionDoc, release: CollectionDoc): CollectionDoc {
  const byName = new Map(release.artifacts.map((a) => [a.name, a]));
  const kept = manifest.artifacts.map((a) => ({ name: a.name, version: byName.get(a.name)?.version ?? a.version }));
  const added = release.artifacts.filter((a) => !manifest.artifacts.some((m) => m.name === a.name)).map((a) => ({ name: a.name, version: a.version }));
  return { name: manifest.name, version: release.version, artifacts: [...kept, ...added] };
}

/** The deepest missing directories the new artifacts need (ensureDir makes their missing parents too). */
function missingDirs(collectionDir: string, changes: Artifact[]): string[] {
  const dirs = [...new Set(changes.map((a) => dirname(join(collectionDir, a.name))))].filter((d) => !fs.existsSync(d)).sort();
  return dirs.filter((d) => !dirs.some((other) => other !== d && other.startsWith(`${d}/`)));
}

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

/**
 * Updates a collection to a release, all or nothing: snapshot the collection,
 * fetch into a temp workspace, copy the artifacts in, rewrite manifest and
 * lock atomically, check the lock against the disk. Any failure restores the
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

  let manifest: CollectionDoc;
  let lock: CollectionDoc;
  let release: CollectionDoc;
  try {
    manifest = readDoc(join(dir, MANIFEST));
    lock = readDoc(join(dir, LOCK));
    release = readDoc(join(source, RELEASE_INDEX));
  } catch (error) {
    return refused(recovered, say(`Nothing was changed: ${(error as Error).message}`));
  }
  const inconsistent = checkLock(dir);
  if (inconsistent.length > 0) {
    return refused(recovered, say(`Nothing was changed: the collection is already inconsistent (${inconsistent.join('; ')}). Repair it before updating.`));
  }
  const changes = changesOf(manifest, release);
  const base = { recovered, from: manifest.version, to: release.version };
  if (changes.length === 0 && manifest.version === release.version) {
    return { ...base, status: 'up-to-date', withoutSnapshot: false, exitCode: 0, message: say(`Nothing to do: ${manifest.name} is already at ${manifest.version}.`) };
  }

  const workspace = join(resolve(options.workspaceRoot), `collection-update-${randomBytes(6).toString('hex')}`);
  const nextManifest = newManifest(manifest, release);
  const lockedSha = new Map(lock.artifacts.map((a) => [a.name, a.sha256]));

  const build = (withSnapshot: boolean) => {
    const tx = transaction(`update ${manifest.name} ${manifest.version} -> ${release.version}`, {
      journal: fileJournal({ root: journalRoot, ...(options.afterAppend ? { afterAppend: options.afterAppend } : {}) }),
      handleSignals: options.handleSignals ?? true,
    onThirdSignal: exitOnThirdSignal(process.stderr, recoverCommand),
      resumeHint: recoverCommand,
      meta: { collection: dir, from: manifest.version, to: release.version, snapshot: withSnapshot },
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
    add(`fetch ${changes.length} artifact(s) from ${source} into a temp workspace`, fetchArtifacts({ source, workspace, artifacts: changes.map((a) => ({ name: a.name, ...(a.sha256 ? { sha256: a.sha256 } : {}) })) }));
    const fetchPosition = steps.length - 1;
    for (const d of missingDirs(dir, changes)) add(`create directory ${d}`, ensureDir({ path: d, mode: 0o755 }));
    const current = new Map(manifest.artifacts.map((a) => [a.name, a.version]));
    for (const a of changes) add(`copy in ${a.name} ${current.get(a.name) ?? '(new)'} -> ${a.version}`, copy({ source: join(workspace, a.name), path: join(dir, a.name) }));
    add(`rewrite ${MANIFEST} (atomic)`, writeFile({ path: join(dir, MANIFEST), content: renderDoc(nextManifest, 'manifest') }));
    // The lock's hashes are the fetched bytes' (what was copied in), or the old lock's for untouched artifacts.
    add(
      `rewrite ${LOCK} with the fetched files' sha256 (atomic)`,
      writeFile((get) => {
        const sha = new Map(get(fetched!).files.map((f) => [f.name, f.sha256]));
        const artifacts = nextManifest.artifacts.map((a) => ({ ...a, sha256: sha.get(a.name) ?? lockedSha.get(a.name)! }));
        return { path: join(dir, LOCK), content: renderDoc({ name: manifest.name, version: release.version, artifacts }, 'lock') };
      }),
    );
    add(`check the lock against the files on disk`, lockHolds({ dir }));
    steps.forEach((step, i) => {
      for (const extra of options.inject ?? []) if (extra.afterStep === i) tx.add(extra.step);
      const handle = tx.add(step);
      if (i === fetchPosition) fetched = handle as StepHandle<Fetched>;
    });
    for (const extra of options.inject ?? []) if (extra.afterStep >= steps.length) tx.add(extra.step);
    // On every outcome, even one the steps never reached: the workspace goes.
    tx.finally(() => fs.rmSync(workspace, { recursive: true, force: true }));
    return { tx, labels };
  };

  if (options.dryRun) {
    const { labels } = build(true);
    return { ...base, status: 'planned', withoutSnapshot: false, exitCode: 0, message: [`Would update ${manifest.name} from ${manifest.version} to ${release.version} (nothing was changed):`, ...labels.map((l, i) => `  ${i + 1}. ${l}`)].join('\n') };
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
      lines.push(`Updated ${manifest.name} from ${manifest.version} to ${release.version}: ${changes.map((a) => `${a.name} ${a.version}`).join(', ')}.`, 'The lock matches every file on disk (checked before the commit).');
      break;
    case 'rolled-back':
      lines.push(
        withoutSnapshot
          ? `The update was rolled back step by step (no snapshot): ${dir} is back at ${manifest.version}. The temp workspace was removed.`
          : `The update was rolled back: ${dir} was restored from the pre-update snapshot and verified against its SHA-256 hashes; it is exactly as before (version ${manifest.version}). The temp workspace was removed.`,
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
