import { defineConfig } from 'vitest/config';
import projects from './vitest.workspace.ts';

export default defineConfig({
  test: {
    projects,
    reporters: ['default'],
    // vitest's default is one worker fewer than the cores: on a 2-core machine one test file at a
    // time. Most of a file's time is spent waiting on child processes, shadow tools, systemd and
    // timers, not on the CPU, so three files run side by side. The projects whose files share one
    // machine-wide resource (systemd's user manager; the machine's own accounts) set
    // fileParallelism: false and run one file at a time after the others.
    maxWorkers: 3,
  },
});
