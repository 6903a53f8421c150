import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type TransactionEvent } from '@unwind/core';
import { failingStep, noopStep } from '@unwind/core/testing';
import { renderProgress, type ProgressOptions } from '@unwind/progress';
import { committed, rollbackFailed, rolledBack } from './fixtures/events.js';

/** A stream that records every write. */
function collector(isTTY = false) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 60, write: (text: string) => writes.push(text) } };
}

function render(events: TransactionEvent[], options: ProgressOptions & { isTTY: boolean }) {
  const c = collector(options.isTTY);
  const listener = renderProgress({ stream: c.stream, color: false, ...options });
  for (const event of events) listener(event);
  return c.writes;
}

/** Escape codes made visible, so snapshots show exactly what a terminal receives. */
const visible = (text: string) => text.replace(/\x1b/g, '␛');

/**
 * A tiny terminal: applies text, newlines, "cursor up N lines to column 0"
 * (CSI n F) and "erase to end of screen" (CSI J), and strips colour (SGR).
 * Any other escape fails the test: the renderer must use only these.
 */
function screen(writes: string[]): string[] {
  const rows: string[] = [''];
  let row = 0;
  for (const text of writes) {
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '\x1b') {
        const m = /^\x1b\[(\d*)([A-Za-z])/.exec(text.slice(i));
        if (!m) throw new Error(`bad escape at ${visible(text.slice(i, i + 8))}`);
        const n = Number(m[1] || '1');
        if (m[2] === 'F') {
          if (n > row) throw new Error(`cursor moved up ${n} lines from row ${row}: above the drawn block`);
          row -= n;
          rows[row] = '';
        } else if (m[2] === 'J') rows.splice(row + 1);
        else if (m[2] !== 'm') throw new Error(`unexpected escape ${visible(m[0])}`);
        i += m[0].length - 1;
      } else if (text[i] === '\n') {
        row++;
        rows[row] ??= '';
      } else rows[row] = (rows[row] ?? '') + text[i];
    }
  }
  return rows.slice(0, rows.at(-1) === '' ? -1 : undefined);
}

describe('renderProgress on a pipe: one plain line per transition', () => {
  it('a rollback', () => {
    expect(render(rolledBack, { isTTY: false }).join('')).toMatchInlineSnapshot(`
      "install app: 4 steps
      [1/4] running       write /etc/app/app.conf
      [1/4] done          write /etc/app/app.conf (25 ms)
      [2/4] running       remove /var/log/app/old.log (staged)
      [2/4] done          remove /var/log/app/old.log (staged) (0 ms)
      [3/4] running       start app.service
      [3/4] try failed    start app.service (do attempt 1 failed: connection refused)
      [3/4] done          start app.service (4 ms, 2 attempts)
      [4/4] running       fail on purpose (port 80 is already in use)
      [4/4] failed        fail on purpose (port 80 is already in use) (0 ms: port 80 is already in use)
      rolling back 4 steps, newest first: port 80 is already in use
      [4/4] undoing       fail on purpose (port 80 is already in use)
      [4/4] undone        fail on purpose (port 80 is already in use) (0 ms)
      [3/4] undoing       start app.service
      [3/4] undone        start app.service (0 ms)
      [2/4] undoing       remove /var/log/app/old.log (staged)
      [2/4] undone        remove /var/log/app/old.log (staged) (0 ms)
      [1/4] undoing       write /etc/app/app.conf
      [1/4] undone        write /etc/app/app.conf (5 ms)
      ↺ rolled back in 37 ms: step 4 (fail on purpose (port 80 is already in use)) failed; 4 steps undone, the machine is as it was before
      "
    `);
  });

  it('a commit with a commit action', () => {
    expect(render(committed, { isTTY: false }).join('')).toMatchInlineSnapshot(`
      "install app: 3 steps
      [1/3] running       write /etc/app/app.conf
      [1/3] done          write /etc/app/app.conf (5 ms)
      [2/3] running       remove /var/log/app/old.log (staged)
      [2/3] done          remove /var/log/app/old.log (staged) (0 ms)
      [3/3] running       start app.service
      [3/3] done          start app.service (0 ms)
      [2/3] committed     remove /var/log/app/old.log (staged)
      ✔ committed: 3 steps done in 6 ms
      "
    `);
  });

  it('a rollback that failed', () => {
    expect(render(rollbackFailed, { isTTY: false }).join('')).toMatchInlineSnapshot(`
      "install app: 4 steps
      [1/4] running       write /etc/app/app.conf
      [1/4] done          write /etc/app/app.conf (25 ms)
      [2/4] running       remove /var/log/app/old.log (staged)
      [2/4] done          remove /var/log/app/old.log (staged) (0 ms)
      [3/4] running       start app.service
      [3/4] try failed    start app.service (do attempt 1 failed: connection refused)
      [3/4] done          start app.service (4 ms, 2 attempts)
      [4/4] running       fail on purpose (port 80 is already in use)
      [4/4] failed        fail on purpose (port 80 is already in use) (0 ms: port 80 is already in use)
      rolling back 4 steps, newest first: port 80 is already in use
      [4/4] undoing       fail on purpose (port 80 is already in use)
      [4/4] undone        fail on purpose (port 80 is already in use) (0 ms)
      [3/4] undoing       start app.service
      [3/4] undone        start app.service (0 ms)
      [2/4] undoing       remove /var/log/app/old.log (staged)
      [2/4] undone        remove /var/log/app/old.log (staged) (0 ms)
      [1/4] undoing       write /etc/app/app.conf
      [1/4] undo failed   write /etc/app/app.conf (EACCES: permission denied, open '/etc/app/app.conf')
      ✖ rollback failed in 41 ms: undoing step 1 (write /etc/app/app.conf) failed; the journal is kept: fix the cause, then run \`unwind recover\`
      "
    `);
  });

  it('writes whole lines only, never escape codes', () => {
    for (const events of [rolledBack, committed, rollbackFailed]) {
      for (const write of render(events, { isTTY: false })) {
        expect(write).toMatch(/^[^\n]*\n$/);
        expect(write).not.toContain('\x1b');
      }
    }
  });
});

describe('renderProgress on a terminal: redraws its block in place', () => {
  it('a commit, write by write', () => {
    expect(render(committed, { isTTY: true }).map(visible)).toMatchInlineSnapshot(`
      [
        "␛[Jinstall app (3 steps)
        · 3 more steps
      ",
        "␛[2F␛[Jinstall app (3 steps)
        … write /etc/app/app.conf  preparing
        · 2 more steps
      ",
        "␛[3F␛[Jinstall app (3 steps)
        ▸ write /etc/app/app.conf  running
        · 2 more steps
      ",
        "␛[3F␛[Jinstall app (3 steps)
        ▸ write /etc/app/app.conf  verifying (5 ms)
        · 2 more steps
      ",
        "␛[3F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        · 2 more steps
      ",
        "␛[3F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        … remove /var/log/app/old.log (staged)  preparing
        · 1 more step
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ▸ remove /var/log/app/old.log (staged)  running
        · 1 more step
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ▸ remove /var/log/app/old.log (staged)  verifying (0 ms)
        · 1 more step
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms
        · 1 more step
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms
        … start app.service  preparing
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms
        ▸ start app.service  running
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms
        ▸ start app.service  verifying (0 ms)
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms
        ✔ start app.service  0 ms
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms
        ✔ start app.service  0 ms
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ▸ remove /var/log/app/old.log (staged)  0 ms, committing
        ✔ start app.service  0 ms
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms, committed
        ✔ start app.service  0 ms
      ",
        "␛[4F␛[Jinstall app (3 steps)
        ✔ write /etc/app/app.conf  5 ms
        ✔ remove /var/log/app/old.log (staged)  0 ms, committed
        ✔ start app.service  0 ms
      ✔ committed: 3 steps done in 6 ms
      ",
      ]
    `);
  });

  it('a rollback: the final screen shows every step once, with its state, and the summary', () => {
    const writes = render(rolledBack, { isTTY: true });
    expect(writes.length).toBe(rolledBack.length); // one redraw per event
    expect(screen(writes)).toMatchInlineSnapshot(`
      [
        "install app (4 steps) rolling back: port 80 is already …",
        "  ↺ write /etc/app/app.conf  undone (5 ms)",
        "  ↺ remove /var/log/app/old.log (staged)  undone (0 ms)",
        "  ↺ start app.service  undone (0 ms)",
        "  ↺ fail on purpose (port 80 i…  failed, then undone (0 ms)",
        "↺ rolled back in 37 ms: step 4 (fail on purpose (port 80 is already in use)) failed; 4 steps undone, the machine is as it was before",
      ]
    `);
  });

  it('a failed rollback: the final screen', () => {
    expect(screen(render(rollbackFailed, { isTTY: true }))).toMatchInlineSnapshot(`
      [
        "install app (4 steps) rolling back: port 80 is already …",
        "  ✖ write /etc/app/app.conf  undo failed: EACCES: permissi…",
        "  ↺ remove /var/log/app/old.log (staged)  undone (0 ms)",
        "  ↺ start app.service  undone (0 ms)",
        "  ↺ fail on purpose (port 80 i…  failed, then undone (0 ms)",
        "✖ rollback failed in 41 ms: undoing step 1 (write /etc/app/app.conf) failed; the journal is kept: fix the cause, then run \`unwind recover\`",
      ]
    `);
  });

  it('shortens long lines to the terminal width, so redrawing stays exact', () => {
    const long: TransactionEvent[] = [
      { type: 'transaction:begin', name: 'install', transactionId: 'm', steps: 1 },
      { type: 'step:start', step: 0, description: `write /etc/${'x'.repeat(200)}.conf` },
    ];
    const rows = screen(render(long, { isTTY: true, columns: 40 }));
    expect(rows.length).toBe(2);
    for (const row of rows) expect(row.length).toBeLessThan(40);
    expect(rows[1]).toMatch(/^  ▸ write \/etc\/x+…  running$/);
  });

  it('colours on a terminal, with the same text underneath', () => {
    const coloured = render(committed, { isTTY: true, color: true });
    expect(coloured.join('')).toMatch(/\x1b\[32m✔\x1b\[39m/);
    expect(screen(coloured).map((r) => r.replace(/\x1b\[\d+m/g, ''))).toEqual(screen(render(committed, { isTTY: true })));
  });
});

describe('renderProgress defaults and attachment', () => {
  const saved = { NO_COLOR: process.env.NO_COLOR, FORCE_COLOR: process.env.FORCE_COLOR };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("follows the stream's isTTY, and never colours with NO_COLOR", () => {
    delete process.env.FORCE_COLOR;
    process.env.NO_COLOR = '1';
    const tty = collector(true);
    const listener = renderProgress({ stream: tty.stream });
    committed.forEach(listener);
    expect(tty.writes.join('')).toContain('\x1b[J'); // redrawn in place
    expect(tty.writes.join('')).not.toMatch(/\x1b\[\d+m/); // but no colour
    delete process.env.NO_COLOR;
    const tty2 = collector(true);
    committed.forEach(renderProgress({ stream: tty2.stream }));
    expect(tty2.writes.join('')).toMatch(/\x1b\[\d+m/);
    const pipe = collector(false);
    committed.forEach(renderProgress({ stream: pipe.stream }));
    expect(pipe.writes.join('')).not.toContain('\x1b');
  });

  it('subscribes itself to a real transaction, and a broken stream never breaks the run', async () => {
    const c = collector(false);
    const tx = transaction('demo', { journal: memoryJournal() });
    tx.add(noopStep({}));
    tx.add(failingStep({ message: 'boom' }));
    const listener = renderProgress(tx, { stream: c.stream });
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(c.writes).toEqual([
      'demo: 2 steps\n',
      '[1/2] running       nothing\n',
      expect.stringMatching(/^\[1\/2\] done          nothing \(\d+ ms\)\n$/),
      '[2/2] running       fail on purpose (boom)\n',
      expect.stringMatching(/^\[2\/2\] failed        fail on purpose \(boom\) \(\d+ ms: boom\)\n$/),
      'rolling back 2 steps, newest first: boom\n',
      '[2/2] undoing       fail on purpose (boom)\n',
      expect.stringMatching(/^\[2\/2\] undone        fail on purpose \(boom\) \(\d+ ms\)\n$/),
      '[1/2] undoing       nothing\n',
      expect.stringMatching(/^\[1\/2\] undone        nothing \(\d+ ms\)\n$/),
      expect.stringMatching(/^↺ rolled back in \d+ ms: step 2 \(fail on purpose \(boom\)\) failed; 2 steps undone, the machine is as it was before\n$/),
    ]);
    listener.unsubscribe();

    const broken = transaction('demo', { journal: memoryJournal() });
    broken.add(noopStep({}));
    renderProgress(broken, {
      stream: {
        write: () => {
          throw new Error('EPIPE');
        },
      },
    });
    expect((await broken.run()).status).toBe('committed');
  });
});
