// Finding a renewal client by its pidfile, without trusting a PID alone: the
// process must be alive (not a zombie) and its command line must be a udhcpc
// writing that very pidfile, so a PID reused by another process is never
// adopted or signalled.
import { readFileSync } from 'node:fs';
import { isRenewalCmdline } from './argv.js';

/**
 * True while `pid` runs; a zombie (exited, not yet reaped) counts as gone.
 * Called before signalling or adopting a renewal client; the tests' pidAlive
 * (test/helpers/run.ts) is this function.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The PID in a pidfile, or undefined when the file is missing or holds no PID. */
export function readPidFile(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^[1-9]\d{0,9}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and is the renewal client writing `pidFile`. */
export function isRenewalProcess(pid: number, pidFile: string): boolean {
  if (!processAlive(pid)) return false;
  try {
    return isRenewalCmdline(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), pidFile);
  } catch {
    return false;
  }
}

/**
 * The PID of the renewal client that writes `pidFile`, when its pidfile names
 * a live process whose command line is that client; else undefined.
 */
export function renewalPid(pidFile: string): number | undefined {
  const pid = readPidFile(pidFile);
  return pid !== undefined && isRenewalProcess(pid, pidFile) ? pid : undefined;
}
