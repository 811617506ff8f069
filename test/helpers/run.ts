// Process and naming helpers shared by the integration and e2e tests.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { rmSync, rmdirSync } from 'node:fs';
import { execa, type Options } from 'execa';
import { processAlive } from '../../src/dhcp/process.js';

/** A short per-run prefix: everything a test creates is named with it (≤ 6 chars, leaves room in 15-char ifnames). */
export const RUN_PREFIX = process.env.OVSVLAN_TEST_PREFIX ?? `ot${randomBytes(2).toString('hex')}`;

/** Root directory for this run's sockets, pidfiles and logs. */
export const RUN_DIR = `/run/ovsvlan-test/${RUN_PREFIX}`;

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs a command (argument array, no shell) and returns its output; never throws on a non-zero exit. */
export async function run(cmd: string, args: readonly string[], opts: Options = {}): Promise<RunResult> {
  const r = await execa(cmd, args, { reject: false, timeout: 120_000, ...opts, stdin: 'ignore' });
  return {
    stdout: String(r.stdout ?? '').trim(),
    stderr: String(r.stderr ?? '').trim(),
    exitCode: r.exitCode ?? -1,
  };
}

/** Runs a command and throws with its stderr when it fails. */
export async function runOk(cmd: string, args: readonly string[], opts: Options = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.exitCode !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Sends SIGTERM to a PID we started, then SIGKILL if it is still alive after `graceMs`. */
export async function stopPid(pid: number | undefined, graceMs = 5_000): Promise<void> {
  if (!pid) return;
  const alive = (): boolean => pidAlive(pid);
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await sleep(50);
  if (alive()) process.kill(pid, 'SIGKILL');
}

let runDirReady: Promise<string> | undefined;

/**
 * Creates RUN_DIR and records this process as its owner in `owner.pid`:
 * scripts/cleanup-tests.sh leaves runs whose owner is still alive alone. At exit
 * the owner file is removed, and RUN_DIR too if nothing else is left in it.
 */
export function ensureRunDir(): Promise<string> {
  runDirReady ??= (async () => {
    await mkdir(RUN_DIR, { recursive: true });
    await writeFile(`${RUN_DIR}/owner.pid`, `${process.pid}\n`);
    process.once('exit', () => {
      try {
        rmSync(`${RUN_DIR}/owner.pid`, { force: true });
        rmdirSync(RUN_DIR);
      } catch {
        // not empty: a helper was not torn down; scripts/cleanup-tests.sh removes it
      }
    });
    return RUN_DIR;
  })();
  return runDirReady;
}

/**
 * True while `pid` runs, a zombie counting as gone (daemons started with --detach are re-parented
 * to PID 1, which on these VMs reaps them only about 2 s after they exit): the daemon's own check.
 */
export const pidAlive: (pid: number) => boolean = processAlive;
