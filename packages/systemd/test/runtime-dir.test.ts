import * as fs from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemctlEnv } from '../src/manager.js';

const NOBODY = 65534;
const saved = process.env.XDG_RUNTIME_DIR;
const made: string[] = [];
afterEach(() => {
  if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
  else process.env.XDG_RUNTIME_DIR = saved;
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A directory standing for a runtime directory, with a bus socket's name in it. */
function runtimeDirectory(owner: number, mode: number): string {
  const base = mkdtempSync(join(tmpdir(), 'unwind-runtime-'));
  made.push(base);
  const dir = join(base, 'run');
  fs.mkdirSync(dir, { mode });
  fs.chmodSync(dir, mode);
  fs.chownSync(dir, owner, owner);
  return dir;
}

describe('scope "user": XDG_RUNTIME_DIR from the environment is used only when it is the running user\'s own', () => {
  it('another user\'s runtime directory (an environment inherited through su or sudo -E) is not used: /run/user/<euid> is', () => {
    process.env.XDG_RUNTIME_DIR = runtimeDirectory(NOBODY, 0o700);
    const env = systemctlEnv({ scope: 'user' });
    expect(env.XDG_RUNTIME_DIR).toBe(`/run/user/${process.geteuid!()}`);
    expect(env.DBUS_SESSION_BUS_ADDRESS ?? '').not.toContain(process.env.XDG_RUNTIME_DIR);
  });

  it('one others can write, or a relative one, is not used either', () => {
    process.env.XDG_RUNTIME_DIR = runtimeDirectory(process.geteuid!(), 0o777);
    expect(systemctlEnv({ scope: 'user' }).XDG_RUNTIME_DIR).toBe(`/run/user/${process.geteuid!()}`);
    process.env.XDG_RUNTIME_DIR = 'run/user/0';
    expect(systemctlEnv({ scope: 'user' }).XDG_RUNTIME_DIR).toBe(`/run/user/${process.geteuid!()}`);
  });

  it('the running user\'s own (theirs, mode 0700) is used, and runtimeDir given as an option always is', () => {
    const own = runtimeDirectory(process.geteuid!(), 0o700);
    process.env.XDG_RUNTIME_DIR = own;
    expect(systemctlEnv({ scope: 'user' }).XDG_RUNTIME_DIR).toBe(own);
    expect(systemctlEnv({ scope: 'user', runtimeDir: '/run/user/4242' }).XDG_RUNTIME_DIR).toBe('/run/user/4242');
  });
});
