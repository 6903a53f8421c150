// recover() of a long unfinished journal: a transaction that journaled every
// step (prepared, done, verified) and stopped before its commit point, as a
// crash leaves it; recover() rolls every step back.
// - linear: recovery of 10,000 and of 100,000 no-op steps, time per step;
// - against the undos themselves: recovery of files.chmod steps (each undo
//   puts a mode back and fsyncs the file) against calling the same undos
//   directly, in the same run, from the same state (3 alternated rounds);
//   and, beside them, the floor of any recovery that makes a record of each
//   undo durable before the next: the same undos, each followed by one bare
//   write of an `undone` line in place into a preallocated file and its
//   fdatasync (no runner, no check after the undo).
// The journal is written as the runner writes it: the records of a real
// memory-journal run of the first steps, repeated with their step numbers
// and sequence numbers advanced (each step's records are the same apart from
// them), so a 100,000-step journal takes no 100,000 syncs to make.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { encodeLine, memoryJournal, recover, transaction } from '@unwind/core';
import { noopStep, testKinds } from '@unwind/core/testing';
import { chmod, kinds as fileKinds } from '@unwind/files';
import { count, measureStall, report, scratch, time } from './_util.mjs';

const LARGEST = Number(process.env.UNWIND_BENCH_RECOVERY_STEPS ?? 100_000);
// The reference is a tenth of the largest size, at most 10,000 (a lower UNWIND_BENCH_RECOVERY_STEPS for a quick look).
const LINEAR = [Math.min(10_000, Math.max(1, Math.round(LARGEST / 10))), LARGEST];
const CHMOD_ROUNDS = 3;
const CHMOD_STEPS = Number(process.env.UNWIND_BENCH_RECOVERY_CHMOD_STEPS ?? 5_000);
const kinds = [...testKinds, ...fileKinds];

/** Records of a real run of `templates` steps (before the commit point), as `[begin, ...per step]`. */
async function recordedSteps(makeStep, templates) {
  const journal = memoryJournal();
  const tx = transaction('recovery bench', { journal, handleSignals: false });
  for (let i = 0; i < templates; i++) tx.add(makeStep(i));
  const outcome = await tx.run();
  if (outcome.status !== 'committed') throw new Error(`template run ended ${outcome.status}`);
  const records = journal.transactions[0].records;
  const begin = records[0];
  const perStep = Array.from({ length: templates }, (_, step) => records.filter((r) => r.step === step && r.kind !== 'commit-done'));
  return { begin, perStep };
}

/** Writes an unfinished journal of `steps` steps under `root`; step i uses template `pick(i)`. */
function writeJournal(root, { begin, perStep }, steps, pick) {
  fs.mkdirSync(root, { mode: 0o700 });
  const id = `20261203T000000000Z-recovery-bench-${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`;
  fs.mkdirSync(join(root, id), { mode: 0o700 });
  const lines = [encodeLine({ ...begin, id, seq: 1 })];
  let seq = 2;
  for (let step = 0; step < steps; step++) for (const record of perStep[pick(step)]) lines.push(encodeLine({ ...record, step, seq: seq++ }));
  fs.writeFileSync(join(root, id, 'journal.jsonl'), lines.join(''), { mode: 0o600 });
  const fd = fs.openSync(join(root, id, 'journal.jsonl'), 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return id;
}

async function recoverAll(root, expectedSteps) {
  const result = await recover({ root, kinds });
  const transactionReport = result.transactions[0];
  if (!result.ok || transactionReport?.result !== 'rolled-back') throw new Error(`recover() did not roll back: ${JSON.stringify(result).slice(0, 500)}`);
  if (transactionReport.steps.length !== expectedSteps) throw new Error('recover() rolled back a different number of steps');
}

const dir = scratch('core-recovery');
try {
  // Linear: no-op steps, so the figure is recovery's own cost per step.
  const noop = await recordedSteps(() => noopStep({}), 1);
  const perStep = [];
  for (const steps of LINEAR) {
    const root = join(dir, `noop-${steps}`);
    writeJournal(root, noop, steps, () => 0);
    const seconds = await time(() => (steps === LINEAR.at(-1) ? measureStall(`recover() of ${count(steps)} journaled steps`, () => recoverAll(root, steps)) : recoverAll(root, steps)));
    perStep.push(seconds / steps);
    console.log(`recover() of ${count(steps)} no-op steps: ${seconds.toFixed(2)} s, ${((seconds / steps) * 1e6).toFixed(1)} µs per step`);
  }
  const growth = perStep.at(-1) / perStep[0];
  report({
    figure: `recovery of a journal of ${count(LINEAR.at(-1))} steps: linear`,
    baseline: `${count(LINEAR[0])} steps: ${(perStep[0] * 1e6).toFixed(1)} µs per step`,
    unwind: `${count(LINEAR.at(-1))} steps: ${(perStep.at(-1) * 1e6).toFixed(1)} µs per step (${(perStep.at(-1) * LINEAR.at(-1)).toFixed(2)} s)`,
    ratio: `${growth.toFixed(2)}x per step for ${LINEAR.at(-1) / LINEAR[0]}x the steps`,
    goal: 'linear (<= 1.5x per step)',
    met: growth <= 1.5,
  });

  // Against the undos themselves: chmod steps on one file, alternating modes.
  const file = join(dir, 'target');
  fs.writeFileSync(file, 'x', { mode: 0o640 });
  fs.chmodSync(file, 0o640);
  const modes = [0o600, 0o644, 0o600];
  const chmodTemplates = await recordedSteps((i) => chmod({ path: file, mode: modes[i] }), 3);
  const pick = (step) => (step === 0 ? 0 : step % 2 === 1 ? 1 : 2);
  const finalMode = modes[pick(CHMOD_STEPS - 1)];
  const definition = kinds.find((k) => k.type === 'files.chmod').definition;
  const undos = [];
  for (let step = 0; step < CHMOD_STEPS; step++) {
    const prepared = chmodTemplates.perStep[pick(step)].find((r) => r.kind === 'prepared');
    undos.push({ args: definition.args.decode(prepared.args).right, before: definition.before.decode(prepared.before).right });
  }
  const context = { signal: new AbortController().signal, log: () => {}, exec: undefined, transactionId: 'bench', stepIndex: 0, attempt: 1, phase: 'recover' };
  // Rounds alternate the two sides, since this disk's speed drifts; the ratio is the median round's.
  const rounds = [];
  for (let round = 0; round < CHMOD_ROUNDS; round++) {
    fs.chmodSync(file, finalMode);
    const undoSeconds = await time(async () => {
      for (let step = CHMOD_STEPS - 1; step >= 0; step--) await definition.undo(undos[step].args, undos[step].before, undefined, context);
    });
    if ((fs.statSync(file).mode & 0o7777) !== 0o640) throw new Error('the undos did not bring the mode back');
    fs.chmodSync(file, finalMode);
    const floorSeconds = await undosWithBareRecords(join(dir, `floor-${round}`));
    if ((fs.statSync(file).mode & 0o7777) !== 0o640) throw new Error('the undos did not bring the mode back');
    fs.chmodSync(file, finalMode);
    const root = join(dir, `chmod-${round}`);
    writeJournal(root, chmodTemplates, CHMOD_STEPS, pick);
    const recoverSeconds = await time(() => recoverAll(root, CHMOD_STEPS));
    if ((fs.statSync(file).mode & 0o7777) !== 0o640) throw new Error('recover() did not bring the mode back');
    rounds.push({ undoSeconds, floorSeconds, recoverSeconds, ratio: recoverSeconds / undoSeconds });
    console.log(`round ${round + 1}: ${count(CHMOD_STEPS)} files.chmod undos called directly: ${undoSeconds.toFixed(2)} s; with a bare record synced after each: ${floorSeconds.toFixed(2)} s (${(floorSeconds / undoSeconds).toFixed(2)}x); recover() of the same: ${recoverSeconds.toFixed(2)} s (${(recoverSeconds / undoSeconds).toFixed(2)}x)`);
  }
  /** The undos newest first, each followed by its `undone` line written in place into a preallocated file and fdatasynced. */
  async function undosWithBareRecords(directory) {
    fs.mkdirSync(directory, { mode: 0o700 });
    const fd = fs.openSync(join(directory, 'records'), 'w+', 0o600);
    try {
      fs.writeSync(fd, Buffer.alloc(1 << 20)); // a reserve, as the journal keeps one: the syncs write no inode
      fs.fsyncSync(fd);
      let offset = 0;
      return await time(async () => {
        for (let step = CHMOD_STEPS - 1; step >= 0; step--) {
          await definition.undo(undos[step].args, undos[step].before, undefined, context);
          const line = Buffer.from(encodeLine({ kind: 'undone', step, attempts: 1, seq: step + 1, at: Date.now() }));
          fs.writeSync(fd, line, 0, line.length, offset);
          offset += line.length;
          fs.fdatasyncSync(fd);
        }
      });
    } finally {
      fs.closeSync(fd);
    }
  }
  const middle = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
  report({
    figure: `recovery of ${count(CHMOD_STEPS)} files.chmod steps vs the undos themselves`,
    baseline: `the ${count(CHMOD_STEPS)} undos called directly: ${middle.undoSeconds.toFixed(2)} s; the floor of a durable record per undo (each undo, then a bare in-place write and fdatasync of its line), same round: ${middle.floorSeconds.toFixed(2)} s, ${(middle.floorSeconds / middle.undoSeconds).toFixed(2)}x`,
    unwind: `recover(): ${middle.recoverSeconds.toFixed(2)} s (${(middle.recoverSeconds / middle.floorSeconds).toFixed(2)}x that floor)`,
    ratio: `${middle.ratio.toFixed(2)}x (median of ${CHMOD_ROUNDS} rounds: ${rounds.map((r) => r.ratio.toFixed(2)).join(', ')})`,
    goal: '<= 2x',
    met: middle.ratio <= 2,
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
