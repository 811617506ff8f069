// A lease as udhcpc's hook sees it and as its file holds it: reading udhcpc's
// environment, the lease file's JSON (written atomically: a reader never sees
// half a file). Pure except for the file functions. It is what udhcpc's hook
// loads at each event: no address library (ipam/address.ts holds inSubnet).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { parseJsonObject } from '../json-object.js';
import type { Lease } from './types.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The address as a 32-bit number, or undefined when it is not dotted-quad IPv4. */
function toNumber(address: string): number | undefined {
  if (!IPV4.test(address)) return undefined;
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** The prefix length of a dotted netmask (255.255.255.0 → 24), or undefined when it is not contiguous. */
export function prefixOfMask(mask: string): number | undefined {
  const n = toNumber(mask);
  if (n === undefined) return undefined;
  const bits = n.toString(2).padStart(32, '0');
  if (!/^1*0*$/.test(bits)) return undefined;
  const firstZero = bits.indexOf('0');
  return firstZero === -1 ? 32 : firstZero;
}

/** The address without its prefix length. */
export function plainAddress(address: string): string {
  return address.split('/')[0] ?? address;
}

/**
 * The lease udhcpc reports to its hook at `bound` or `renew` (variables ip,
 * mask or subnet, router, serverid, lease), or undefined when they do not
 * make one. Called by the hook.
 */
export function leaseFromEnv(env: NodeJS.ProcessEnv, now: number): Lease | undefined {
  const ip = env.ip ?? '';
  if (toNumber(ip) === undefined) return undefined;
  const prefix = env.mask !== undefined && /^\d{1,2}$/.test(env.mask) && Number(env.mask) <= 32
    ? Number(env.mask)
    : prefixOfMask(env.subnet ?? '');
  if (prefix === undefined) return undefined;
  const router = (env.router ?? '').split(/\s+/).find((r) => toNumber(r) !== undefined);
  const serverId = toNumber(env.serverid ?? '') === undefined ? undefined : env.serverid;
  const leaseS = /^\d{1,10}$/.test(env.lease ?? '') ? Number(env.lease) : 0;
  return { address: `${ip}/${prefix}`, router, serverId, leaseS, at: now };
}

/** A lease file's content, checked field by field; undefined when it is not one. */
export function parseLease(text: string): Lease | undefined {
  const o = parseJsonObject(text);
  if (!o) return undefined;
  const address = o.address;
  if (typeof address !== 'string' || !/^[\d.]+\/\d{1,2}$/.test(address) || toNumber(plainAddress(address)) === undefined) return undefined;
  const optional = (x: unknown): string | undefined | false =>
    x === undefined || x === null ? undefined : typeof x === 'string' && toNumber(x) !== undefined ? x : false;
  const router = optional(o.router);
  const serverId = optional(o.serverId);
  if (router === false || serverId === false) return undefined;
  if (typeof o.leaseS !== 'number' || typeof o.at !== 'number') return undefined;
  return { address, router, serverId, leaseS: o.leaseS, at: o.at };
}

/** The lease in `path`, or undefined when the file is missing or not a lease. */
export function readLeaseFile(path: string): Lease | undefined {
  try {
    return parseLease(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Writes the lease to `path` atomically (temporary file, fsync, rename). Called by the hook. */
export async function writeLeaseFile(path: string, lease: Lease): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(`${JSON.stringify(lease)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
