import { runCommand, syncFile, type CommandRunner } from '@unwind/core';

/** Up to this many written paths are fsynced one by one; more, and one `syncfs` of the filesystem is cheaper. */
export const FSYNC_LIMIT = 64;

/**
 * Makes written files and directories durable before a snapshot or restore
 * is declared done. Few paths: fsync each (files, then directories). Many:
 * one `sync -f <path>` (syncfs(2): the whole filesystem, one call, and since
 * Linux 5.8 it reports writeback errors) — 20 000 fsyncs would cost more
 * than the copy. If `sync -f` cannot run, falls back to fsyncing each path.
 * A failed fsync is fatal, never retried (the kernel may have dropped the pages).
 *
 * @example
 * ```ts
 * await makeDurable('/srv/app', written, dirs, { exec: ctx.exec });
 * ```
 */
export async function makeDurable(anchor: string, files: Iterable<string>, dirs: Iterable<string>, options: { exec?: CommandRunner; signal?: AbortSignal } = {}): Promise<void> {
  const fileList = [...new Set(files)];
  const dirList = [...new Set(dirs)];
  if (fileList.length + dirList.length > FSYNC_LIMIT) {
    try {
      await (options.exec ?? runCommand)({ argv: ['sync', '-f', anchor], timeoutMs: 300_000, ...(options.signal ? { signal: options.signal } : {}) });
      return;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      // `sync` missing or too old for -f: do it the slow way below.
    }
  }
  // A symlink has nothing of its own to sync (its directory's fsync covers it); a vanished path has nothing at all.
  for (const path of fileList) syncFile(path, { missingOk: true });
  for (const path of dirList) syncFile(path, { missingOk: true });
}
