import { describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type SerializedError, type TransactionEvent } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { errorDetails, errorLine, printable, printableData, renderProgress, type ProgressOptions } from '@unwind/progress';

/*
 * A file name another user chose, a command's output or a planted journal
 * reaches the progress display in descriptions, names, error messages and
 * stderr. Its control characters must show as escapes, never reach the terminal.
 */

/** An OSC title, BEL, a screen clear, C1 CSI (U+009B), DEL, and CR/LF starting a forged line. */
const EVIL = 'x\u001b]0;owned\u0007\u001b[2J\u009b31m\u007f\r\n✔ all steps committed';
const ESCAPED = 'x\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\x7f\\r\\n✔ all steps committed';
/** A command's stderr: two lines, each with its own escapes. */
const STDERR = 'first \u001b]0;t\u0007\u009b2J\r\nsecond line\u001b[H\n';
const STDERR_FIRST = 'first \\x1b]0;t\\x07\\x9b2J\\r';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const evilError: SerializedError = {
  name: 'Error',
  message: `cannot import ${EVIL}`,
  context: { argv: ['touch', EVIL], exitCode: 1, stderr: STDERR },
  cause: { name: 'Error', message: EVIL },
};

/** Every event that carries text, each with planted text; `end` is the final status. */
function plantedEvents(end: string): TransactionEvent[] {
  return [
    { type: 'lock:stale', path: `/run/${EVIL}.lock`, holder: { pid: 42, host: EVIL, processStart: '1', acquiredAt: EVIL, purpose: EVIL } },
    { type: 'transaction:begin', name: `install ${EVIL}`, transactionId: 'm', steps: 3 },
    { type: 'step:prepare', step: 0, description: `write ${EVIL}` },
    { type: 'step:start', step: 0, description: `write ${EVIL}` },
    { type: 'step:retry', step: 0, description: `write ${EVIL}`, attempt: 1, error: evilError, phase: 'do' },
    { type: 'step:done', step: 0, description: `write ${EVIL}`, durationMs: 3, attempts: 2 },
    { type: 'step:verified', step: 0, description: `write ${EVIL}` },
    { type: 'step:start', step: 1, description: `import ${EVIL}` },
    { type: 'step:failed', step: 1, description: `import ${EVIL}`, error: evilError, durationMs: 4 },
    { type: 'signal', signal: `SIGTERM${EVIL}`, count: 1 },
    { type: 'rollback:start', reason: evilError, steps: 2 },
    { type: 'undo:start', step: 1, description: `import ${EVIL}` },
    { type: 'undo:done', step: 1, description: `import ${EVIL}`, durationMs: 1, attempts: 1 },
    { type: 'undo:start', step: 0, description: `write ${EVIL}` },
    end === 'rolled-back'
      ? { type: 'undo:done', step: 0, description: `write ${EVIL}`, durationMs: 1, attempts: 1 }
      : { type: 'undo:failed', step: 0, description: `write ${EVIL}`, error: evilError },
    { type: 'commit:start', step: 2, description: `commit ${EVIL}` },
    { type: 'commit:failed', step: 2, description: `commit ${EVIL}`, error: evilError },
    { type: 'transaction:end', status: end, durationMs: 9 },
  ];
}

function render(events: TransactionEvent[], options: ProgressOptions & { isTTY: boolean }): string[] {
  const writes: string[] = [];
  const listener = renderProgress({ stream: { isTTY: options.isTTY, columns: 400, write: (text: string) => writes.push(text) }, color: false, ...options });
  for (const event of events) listener(event);
  return writes;
}

const ENDS = ['rolled-back', 'rollback-failed', `odd ${EVIL}`];

describe('printable', () => {
  it('writes every control character as an escape and keeps the rest', () => {
    expect(printable(EVIL)).toBe(ESCAPED);
    expect(printable('\u0000\t\u001f\u0080\u009f ~ü✔\\')).toBe('\\x00\\t\\x1f\\x80\\x9f ~ü✔\\');
  });

  it('changes nothing the second time, so text escaped once may be escaped again', () => {
    expect(printable(printable(EVIL))).toBe(ESCAPED);
  });

  it('printableData escapes every string of plain data and keeps numbers and other objects', () => {
    const date = new Date(0);
    expect(printableData({ a: EVIL, n: 1, list: [EVIL, null], nested: { b: EVIL }, date })).toEqual({ a: ESCAPED, n: 1, list: [ESCAPED, null], nested: { b: ESCAPED }, date });
  });
});

describe('errorLine and errorDetails return escaped text', () => {
  it("errorLine: the message and the stderr's first line", () => {
    expect(errorLine(evilError)).toBe(`cannot import ${ESCAPED} (stderr: ${STDERR_FIRST})`);
  });

  it('errorDetails: one escaped line each, stderr split at its own line breaks', () => {
    expect(errorDetails(evilError)).toEqual([
      `Error: cannot import ${ESCAPED}`,
      `command: touch ${ESCAPED}`,
      'exit code: 1',
      `stderr: ${STDERR_FIRST}`,
      'stderr: second line\\x1b[H',
      `caused by Error: ${ESCAPED}`,
    ]);
  });
});

describe('renderProgress shows planted text escaped, never raw', () => {
  it('on a pipe: whole lines, no control character but their newline, the escaped text in its place', () => {
    for (const end of ENDS) {
      const writes = render(plantedEvents(end), { isTTY: false });
      for (const write of writes) {
        expect(write).toMatch(/\n$/);
        expect(write.slice(0, -1), end).not.toMatch(CONTROL);
      }
      const out = writes.join('');
      expect(out).toContain(`install ${ESCAPED}: 3 steps`);
      expect(out).toContain(`took over the stale lock /run/${ESCAPED}.lock of dead process 42 (acquired ${ESCAPED})`);
      expect(out).toContain(`[1/3] try failed    write ${ESCAPED} (do attempt 1 failed: cannot import ${ESCAPED} (stderr: ${STDERR_FIRST}))`);
      expect(out).toContain(`[2/3] failed        import ${ESCAPED} (4 ms: cannot import ${ESCAPED} (stderr: ${STDERR_FIRST}))`);
      expect(out).toContain(`SIGTERM${ESCAPED}: cancelling, rolling back`);
      expect(out).toContain(`rolling back 2 steps, newest first: cannot import ${ESCAPED}`);
      expect(out).toContain(`[3/3] commit failed commit ${ESCAPED}`);
    }
    expect(render(plantedEvents('rolled-back'), { isTTY: false }).at(-1)).toContain(`step 2 (import ${ESCAPED}) failed`);
    expect(render(plantedEvents('rollback-failed'), { isTTY: false }).at(-1)).toContain(`undoing step 1 (write ${ESCAPED}) failed`);
    expect(render(plantedEvents(`odd ${EVIL}`), { isTTY: false }).at(-1)).toBe(`odd ${ESCAPED} in 9 ms\n`);
  });

  it("on a terminal: the renderer's own cursor movement and newlines, nothing else", () => {
    for (const end of ENDS) {
      const writes = render(plantedEvents(end), { isTTY: true });
      for (const write of writes) {
        // Each redraw starts with "cursor up N lines" (after the first) and "erase below": the only escapes it may write.
        const body = write.replace(/^(\x1b\[\d+F)?\x1b\[J/, '');
        expect(body, end).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
        expect(body === '' || body.endsWith('\n')).toBe(true); // nothing to draw yet after a stale lock
      }
      const last = writes.at(-1)!;
      expect(last).toContain(`install ${ESCAPED} (3 steps) rolling back: cannot import x\\x1b…`); // the cause cut to 20 characters
      expect(last).toContain(`import ${ESCAPED}  failed, then undone (1 ms)`);
      expect(last).toContain(`  SIGTERM${ESCAPED}: cancelling, rolling back`);
      expect(last).toContain(`commit ${ESCAPED}  commit action failed: cannot import ${ESCAPED} (stderr: ${STDERR_FIRST})`);
    }
    const failedUndo = render(plantedEvents('rollback-failed'), { isTTY: true }).at(-1)!;
    expect(failedUndo).toContain(`write ${ESCAPED}  undo failed: cannot import ${ESCAPED}`);
  });

  it('with colour: only its own colour codes besides', () => {
    const writes = render(plantedEvents('rollback-failed'), { isTTY: true, color: true });
    for (const write of writes) {
      const body = write.replace(/^(\x1b\[\d+F)?\x1b\[J/, '').replace(/\x1b\[(1|2|22|3[1-6]|39)m/g, '');
      expect(body).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    }
  });

  it('from a real transaction whose step fails with planted text', async () => {
    const writes: string[] = [];
    const tx = transaction(`demo ${EVIL}`, { journal: memoryJournal(), handleSignals: false });
    tx.add(failingStep({ message: EVIL }));
    renderProgress(tx, { stream: { isTTY: false, write: (text: string) => writes.push(text) } });
    expect((await tx.run()).status).toBe('rolled-back');
    for (const write of writes) expect(write.slice(0, -1)).not.toMatch(CONTROL);
    expect(writes[0]).toBe(`demo ${ESCAPED}: 1 step\n`);
    expect(writes.join('')).toContain(`failed        fail on purpose (${ESCAPED}) (`);
  });

  it('events escaped beforehand (as the unwind command passes them) come out the same, not escaped twice', () => {
    const plain = plantedEvents('rolled-back').map((event) => ('error' in event ? { ...event, error: { name: 'Error', message: EVIL } } : 'reason' in event ? { ...event, reason: { name: 'Error', message: EVIL } } : event));
    for (const isTTY of [false, true]) expect(render(printableData(plain), { isTTY })).toEqual(render(plain, { isTTY }));
  });
});
