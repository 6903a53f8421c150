import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTypeScript } from '@unwind/core/testing';

// `@unwind/core/testing` outside vitest: vitest is an optional peer dependency, so importing the entry
// must not load it (it once imported vitest, and chai with it, at load: without vitest installed the
// import failed, and from CommonJS vitest refuses to be required). Only the conformance suite needs
// vitest, and outside it that says so with a typed error.

describe('@unwind/core/testing outside vitest', () => {
  it('loads without vitest installed; the conformance suite then refuses with OutsideVitestError', async () => {
    const child = await runTypeScript(join(import.meta.dirname, 'fixtures', 'testing-without-vitest.ts'), [], {
      killAfterMs: 60_000,
      imports: [pathToFileURL(join(import.meta.dirname, 'fixtures', 'no-vitest.mjs')).href],
    });
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    const result = JSON.parse(child.stdout) as { loaded: boolean; error?: { name: string; code: string; message: string } };
    expect(result.loaded).toBe(true);
    expect(result.error).toMatchObject({ name: 'OutsideVitestError', code: 'OUTSIDE_VITEST' });
    expect(result.error?.message).toContain('@unwind/core/testing/helpers');
  }, 120_000);
});
