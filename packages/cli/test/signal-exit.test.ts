import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { exitOnThirdSignal } from '../src/signal-exit.js';

afterEach(() => vi.restoreAllMocks());

describe('exitOnThirdSignal: the command line opts in to exiting', () => {
  it('says how to finish the rollback, then exits 130', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (d) => (text += d));
    exitOnThirdSignal(stream, 'unwind recover --root /var/lib/app/unwind')('SIGINT');
    expect(exit).toHaveBeenCalledWith(130);
    expect(String(stream.read() ?? text)).toContain('SIGINT a third time: exiting during the rollback; run unwind recover --root /var/lib/app/unwind to finish it');
  });
});
