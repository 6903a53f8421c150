/** How long the runner keeps the event loop between steps before giving it back. */
const SLICE_MS = 10;

/**
 * Gives the event loop back between steps once the steps since the last
 * time took longer than a slice. A transaction of quick steps never waits
 * for anything but promises that are already settled (every journal write
 * and sync is synchronous), so without this it held the loop for its whole
 * run: 2 s for 2,000 durable no-op steps, 13 s for 200,000 in memory
 * (bench/core-durable.mjs, bench/core-memory.mjs). Meanwhile no timer, I/O
 * callback or signal handler of the embedding program ran — not even the
 * SIGINT handler that asks the run to stop. Costs one `setImmediate` per
 * slice. A single long step still holds the loop for as long as it runs.
 */
export class LoopSlices {
  private since = performance.now();
  /** The time `due()` or `now()` last read: a step's start time, without reading the clock again. */
  last = this.since;

  /** Whether the current slice is used up (cheap: call it before every step). */
  due(): boolean {
    return this.now() - this.since >= SLICE_MS;
  }

  /** Reads the clock (`performance.now()`) and keeps it in `last`. */
  now(): number {
    return (this.last = performance.now());
  }

  /** Lets everything queued on the event loop run, then starts a new slice. */
  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = this.now();
  }
}
