// The DHCP client's files under <state>/dhcp, named in one place:
//   <endpoint>.pid         the renewal client's pidfile (udhcpc writes it)
//   <endpoint>.lease.json  the lease its hook last wrote (src/dhcp/hook.ts)
//   <endpoint>.deconfig    touched by its hook at each deconfig (a release confirmed)
//   <endpoint>.log         what the renewal client and its hook said (stdout and stderr),
//                          truncated at each start of a client: its size stays that of one run
//   first-<tag>.lease.json, release-<tag>.lease.json|.deconfig
//                          a one-shot client's reports, removed once read; left only by a
//                          daemon killed mid-call, and then removed by sweepReports at start
import { readdirSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DhcpError } from '../errors.js';

/** Endpoint IDs name files: Docker's are hex (64) or base-36 (25); anything else is refused. */
export function checkedId(endpointId: string): string {
  if (!/^[A-Za-z0-9]{1,64}$/.test(endpointId)) throw new DhcpError(`not an endpoint ID: ${JSON.stringify(endpointId.slice(0, 64))}`);
  return endpointId;
}

export interface EndpointFiles {
  pid: string;
  lease: string;
  deconfig: string;
  log: string;
}

/** The files of an endpoint's renewal client (throws DhcpError for a malformed ID). */
export function endpointFiles(dir: string, endpointId: string): EndpointFiles {
  const base = join(dir, checkedId(endpointId));
  return { pid: `${base}.pid`, lease: `${base}.lease.json`, deconfig: `${base}.deconfig`, log: `${base}.log` };
}

/** The report files of one one-shot client (a first lease or a release), under a fresh random tag. */
export function reportFiles(dir: string, kind: 'first' | 'release'): { lease: string; deconfig: string } {
  const base = join(dir, `${kind}-${randomBytes(6).toString('hex')}`);
  return { lease: `${base}.lease.json`, deconfig: `${base}.deconfig` };
}

const REPORT = /^(first|release)-[0-9a-f]{12}\.(lease\.json|deconfig)$/;

/**
 * Removes the one-shot clients' report files (first-*, release-*) found in
 * `dir`; returns their names. Called once by the daemon at start, before it
 * serves Docker: no one-shot client runs then, so any such file was left by
 * a daemon killed mid-call. A missing directory is nothing to sweep.
 */
export async function sweepReports(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const left = names.filter((n) => REPORT.test(n));
  for (const n of left) await rm(join(dir, n), { force: true });
  return left;
}

/**
 * Opens (truncating) the renewal client's log for its stdout and stderr, and
 * returns the descriptor with a function that closes it in the daemon once
 * the client holds its own copy. Called by startRenewal before the spawn.
 */
export async function openClientLog(path: string): Promise<{ fd: number; close: () => Promise<void> }> {
  const handle = await open(path, 'w', 0o600);
  return { fd: handle.fd, close: () => handle.close() };
}

/** The last non-empty line of a client's log (at most `maxBytes` read), '' when none: for error messages. */
export async function lastLogLine(path: string, maxBytes = 4096): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, maxBytes);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return buf.toString('utf8').trim().split('\n').pop()?.trim() ?? '';
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
