import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandRunner } from '../exec.js';
import { FileBlobStore } from '../journal/blobs.js';
import { logger } from '../log.js';
import type { StepContext } from '../step.js';

/**
 * A step context for calling a step kind's functions directly in tests, with
 * blobs on a real disk in a temp directory.
 *
 * @example
 * ```ts
 * const { ctx, dispose } = testContext();
 * const before = await kind.definition.prepare(args, ctx);
 * dispose();
 * ```
 */
export function testContext(options: { exec?: CommandRunner; signal?: AbortSignal; stepIndex?: number } = {}): {
  /** The context to pass to the kind's functions. */
  ctx: StepContext;
  /** Removes the blob directory. */
  dispose: () => void;
  /** Where the blobs are stored. */
  blobRoot: string;
} {
  const blobRoot = fs.mkdtempSync(join(tmpdir(), 'unwind-test-blobs-'));
  const ctx: StepContext = {
    signal: options.signal ?? new AbortController().signal,
    exec: options.exec ?? runCommand,
    log: logger('test'),
    blobs: new FileBlobStore(join(blobRoot, String(options.stepIndex ?? 0))),
    transactionId: 'test',
    stepIndex: options.stepIndex ?? 0,
    attempt: 1,
    phase: 'run',
  };
  return { ctx, blobRoot, dispose: () => fs.rmSync(blobRoot, { recursive: true, force: true }) };
}
