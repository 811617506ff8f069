// The one place that spawns processes: `ip` and `ethtool` for the rare paths
// (a network's uplink and host address: addr.ts; `ethtool -K` on a kernel
// without ethtool's netlink family), and `nsenter` to run them in a
// container's netns for `ovsvlan doctor`. The container path goes through
// netlink instead (links.ts, harden.ts). Argument arrays only (execa, never a
// shell), bounded by a timeout.
import type { execa as Execa } from 'execa';
import { LinkError } from '../errors.js';

const TIMEOUT_MS = 10_000;

/** execa (+10 MB RSS) is loaded on the first spawn: a daemon whose networks have no uplink never loads it. */
let loaded: Promise<typeof Execa> | undefined;

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export type Tool = 'ip' | 'ethtool' | 'nsenter';

/** Runs `cmd args…` (stdin closed); returns the result whatever the exit code (callers decide what "not found" means). */
export async function exec(cmd: Tool, args: readonly string[]): Promise<ExecResult> {
  try {
    const execa = await (loaded ??= import('execa').then((m) => m.execa));
    const r = await execa(cmd, args, { reject: false, timeout: TIMEOUT_MS, stdin: 'ignore' });
    if (r.timedOut) throw new LinkError([cmd, ...args], `timed out after ${TIMEOUT_MS} ms`);
    return { stdout: String(r.stdout), stderr: String(r.stderr).trim(), exitCode: r.exitCode ?? -1 };
  } catch (err) {
    if (err instanceof LinkError) throw err;
    throw new LinkError([cmd, ...args], err instanceof Error ? err.message : String(err), err);
  }
}

/** Runs and throws LinkError (with argv and stderr) on a non-zero exit. */
export async function execOk(cmd: Tool, args: readonly string[]): Promise<string> {
  const r = await exec(cmd, args);
  if (r.exitCode !== 0) throw new LinkError([cmd, ...args], r.stderr);
  return r.stdout;
}
