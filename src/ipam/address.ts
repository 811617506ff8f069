// Address math for pools, on ip-num (pure). Addresses are handled as
// bigint offsets so that IPv4 and IPv6 share one allocator. Text is read
// strictly: what Go's net/netip prints (Docker's side), nothing looser: no
// zone (`%eth0`), no leading zeros in an IPv4 octet or a prefix length, no
// whitespace. ip-num alone would take a zone and `/024`.
import { isIP, SocketAddress } from 'node:net';
import { IPv4, IPv6, Validator } from 'ip-num';

export type Family = 4 | 6;

/** A canonical prefix: network address, length, first and last address as numbers. */
export interface Prefix {
  family: Family;
  cidr: string;
  bits: number;
  first: bigint;
  last: bigint;
}

/** An interface address: an address with the prefix length of its subnet (`10.1.0.5/24`). */
export interface InterfaceAddress {
  family: Family;
  value: bigint;
  bits: number;
  /** the subnet it is in */
  subnet: Prefix;
}

/** "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is the longest address text. */
const MAX_ADDRESS_CHARS = 45;
const LENGTH = /^(0|[1-9][0-9]{0,2})$/;

const width = (family: Family): number => (family === 4 ? 32 : 128);

/** Parses a plain address (no mask); undefined when it is not one. */
export function parseAddress(text: string): { family: Family; value: bigint } | undefined {
  if (text.length > MAX_ADDRESS_CHARS || text.includes('%')) return undefined;
  const family = isIP(text);
  if (family === 4 && Validator.isValidIPv4String(text)[0]) return { family: 4, value: IPv4.fromString(text).getValue() };
  if (family === 6 && Validator.isValidIPv6String(text)[0]) return { family: 6, value: IPv6.fromString(text).getValue() };
  return undefined;
}

/** Splits `address/length`; undefined unless both parts are well formed and the length fits the family. */
function splitCidr(text: string): { family: Family; value: bigint; bits: number } | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0 || !LENGTH.test(text.slice(slash + 1))) return undefined;
  const a = parseAddress(text.slice(0, slash));
  const bits = Number(text.slice(slash + 1));
  return a && bits <= width(a.family) ? { ...a, bits } : undefined;
}

/** Parses a CIDR whose host bits are zero; undefined when it is not one. */
export function parsePrefix(cidr: string): Prefix | undefined {
  const c = splitCidr(cidr);
  if (!c) return undefined;
  const p = prefixOf(c.family, c.value, c.bits);
  return p.first === c.value ? p : undefined;
}

/** Parses an address with a prefix length (host bits allowed, as Docker sends a gateway); undefined when it is not one. */
export function parseInterfaceAddress(text: string): InterfaceAddress | undefined {
  const c = splitCidr(text);
  return c && { ...c, subnet: prefixOf(c.family, c.value, c.bits) };
}

/** The prefix of length `bits` that holds `value`. */
function prefixOf(family: Family, value: bigint, bits: number): Prefix {
  const hostBits = BigInt(width(family) - bits);
  const first = (value >> hostBits) << hostBits;
  const last = first + (1n << hostBits) - 1n;
  return { family, cidr: `${format(family, first)}/${bits}`, bits, first, last };
}

/** Canonical text of a plain address or of the address of a CIDR (`10.1.0.5/24` → `10.1.0.5`); undefined when it is neither. */
export function canonicalAddress(cidrOrAddress: string | undefined): string | undefined {
  const a = cidrOrAddress ? parseAddress(cidrOrAddress.split('/')[0] ?? '') : undefined;
  return a ? format(a.family, a.value) : undefined;
}

/** Canonical text of an address (RFC 5952 for IPv6). */
export function format(family: Family, value: bigint): string {
  if (family === 4) return new IPv4(value).toString();
  return new SocketAddress({ address: new IPv6(value).toString(), family: 'ipv6' }).address;
}

export function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && inner.first >= outer.first && inner.last <= outer.last;
}

/** Whether the address `a` lies in `p`. */
export function holds(p: Prefix, a: { family: Family; value: bigint }): boolean {
  return p.family === a.family && a.value >= p.first && a.value <= p.last;
}

/** Whether `address` (plain, or with a prefix length, which is ignored) lies in the subnet `cidr`; false when either is not one. */
export function inSubnet(address: string, cidr: string): boolean {
  const p = parsePrefix(cidr);
  const a = parseAddress(address.split('/')[0] ?? '');
  return p !== undefined && a !== undefined && holds(p, a);
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/**
 * Addresses never handed out: the network address, and for IPv4 prefixes
 * shorter than /31 the broadcast address too (as Docker's own IPAM does).
 */
export function reserved(p: Prefix): bigint[] {
  if (p.family === 4 && p.bits >= 31) return [];
  return p.family === 4 ? [p.first, p.last] : [p.first];
}

/** The i-th subnet of length `bits` inside `base` (for default pools). */
export function nthSubnet(base: Prefix, bits: number, i: bigint): Prefix | undefined {
  const size = 1n << BigInt(width(base.family) - bits);
  const first = base.first + size * i;
  if (bits < base.bits || first + size - 1n > base.last) return undefined;
  return prefixOf(base.family, first, bits);
}
