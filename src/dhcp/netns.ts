// Looking into a container's netns after Join answered: the interface by its
// MAC (Docker renames the container end, eth0, eth1, …, when it moves it into
// the sandbox, so the renewal client learns the name there) and the lease's
// address once Docker has set it; and a throwaway netns's address.
import { statSync } from 'node:fs';
import { execa } from 'execa';
import { DhcpError } from '../errors.js';

const LIST_TIMEOUT_MS = 5_000;
const POLL_MS = 200;

/** The name of the link with `mac` in the netns file `netns`, or undefined when none has it (yet). */
export async function findInterface(netns: string, mac: string): Promise<string | undefined> {
  // util-linux nsenter: BusyBox's would run its own `ip` applet, which has no JSON output
  const r = await execa('nsenter', [`--net=${netns}`, 'ip', '-j', 'link', 'show'], {
    timeout: LIST_TIMEOUT_MS,
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) return undefined;
  let links: Array<{ ifname?: string; address?: string }>;
  try {
    links = JSON.parse(String(r.stdout)) as typeof links;
  } catch {
    return undefined; // a netns being torn down can print half a list
  }
  return links.find((l) => l.address?.toLowerCase() === mac.toLowerCase())?.ifname;
}

/**
 * Waits until the link with `mac` is in `netns` and returns its name; throws
 * DhcpError after `waitMs`. Called by startRenewal in the background after Join.
 */
export function interfaceWithMac(netns: string, mac: string, waitMs: number): Promise<string> {
  return pollUntil(() => findInterface(netns, mac), waitMs, `no interface with MAC ${mac} appeared in ${netns} within ${waitMs / 1000} s`);
}

/** Whether an interface in the netns file `netns` holds the IPv4 `address` (plain). */
async function holdsAddress(netns: string, address: string): Promise<true | undefined> {
  const r = await execa('busybox', ['nsenter', `--net=${netns}`, 'ip', '-4', '-o', 'addr', 'show'], { timeout: LIST_TIMEOUT_MS, reject: false, stdin: 'ignore' });
  return r.exitCode === 0 && new RegExp(`\\binet ${address.replace(/\./g, '\\.')}/`).test(String(r.stdout)) ? true : undefined;
}

/**
 * Waits until an interface in `netns` holds `address`: Docker has moved the
 * container end in, named it and set the lease's address (the renewal client
 * must find it under its final name). Throws DhcpError after `waitMs`, or
 * once `signal` is aborted. Called after Join, in the background (driver/dhcp-renewal.ts).
 */
export async function waitForAddressIn(netns: string, address: string, waitMs: number, signal: AbortSignal): Promise<void> {
  await pollUntil(() => holdsAddress(netns, address), waitMs, `no interface in ${netns} held ${address} within ${waitMs / 1000} s`, signal);
}

/** `find` every POLL_MS until it gives a value; DhcpError `late` after `waitMs`, or once `signal` is aborted. */
async function pollUntil<T>(find: () => Promise<T | undefined>, waitMs: number, late: string, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (signal?.aborted) throw new DhcpError('left before the renewal client started');
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new DhcpError(late);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Throws DhcpError unless `netns` is a namespace file of another namespace
 * than the daemon's own and the host's (PID 1's).
 */
export function refuseOwnNetns(netns: string): void {
  let theirs;
  try {
    theirs = statSync(netns);
  } catch {
    throw new DhcpError(`no netns file ${netns}`);
  }
  for (const [file, whose] of [['/proc/self/ns/net', "the daemon's own"], ['/proc/1/ns/net', "the host's"]] as const) {
    let ns;
    try {
      ns = statSync(file);
    } catch {
      continue; // PID 1's cannot be read here (PID 1 of another user namespace): the daemon's own is still compared
    }
    if (theirs.ino === ns.ino && theirs.dev === ns.dev) throw new DhcpError(`${netns} is ${whose} network namespace: refused`);
  }
}

/**
 * Puts `address` (with prefix) on `ifname` inside `netns`; only for a
 * throwaway netns of the caller's (refuseOwnNetns first). Bounded.
 */
export async function addAddressIn(netns: string, ifname: string, address: string): Promise<void> {
  const r = await execa('nsenter', [`--net=${netns}`, 'ip', 'addr', 'replace', address, 'dev', ifname], {
    timeout: LIST_TIMEOUT_MS,
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) throw new DhcpError(`cannot put ${address} on ${ifname} in ${netns}: ${String(r.stderr).trim() || `exit ${r.exitCode}`}`);
}
