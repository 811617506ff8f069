// Address math for pools, on ip-num (pure). Addresses are handled as
// bigint offsets so that IPv4 and IPv6 share one allocator.
import { SocketAddress } from 'node:net';
import { IPv4, IPv4CidrRange, IPv6, IPv6CidrRange, Validator } from 'ip-num';

export type Family = 4 | 6;

/** A canonical prefix: network address, length, first and last address as numbers. */
export interface Prefix {
  family: Family;
  cidr: string;
  bits: number;
  first: bigint;
  last: bigint;
}

/** Parses a CIDR whose host bits are zero; undefined when it is not one. */
export function parsePrefix(cidr: string): Prefix | undefined {
  if (Validator.isValidIPv4CidrRange(cidr)[0]) return fromRange(4, IPv4CidrRange.fromCidr(cidr));
  if (Validator.isValidIPv6CidrRange(cidr)[0]) return fromRange(6, IPv6CidrRange.fromCidr(cidr));
  return undefined;
}

function fromRange(family: Family, r: IPv4CidrRange | IPv6CidrRange): Prefix {
  const first = r.getFirst().getValue();
  const bits = Number(r.cidrPrefix.getValue());
  return { family, cidr: `${format(family, first)}/${bits}`, bits, first, last: r.getLast().getValue() };
}

/** Parses a plain address (no mask); undefined when it is not one. */
export function parseAddress(text: string): { family: Family; value: bigint } | undefined {
  if (Validator.isValidIPv4String(text)[0]) return { family: 4, value: IPv4.fromString(text).getValue() };
  if (Validator.isValidIPv6String(text)[0]) return { family: 6, value: IPv6.fromString(text).getValue() };
  return undefined;
}

/** Canonical text of an address (RFC 5952 for IPv6). */
export function format(family: Family, value: bigint): string {
  if (family === 4) return new IPv4(value).toString();
  return new SocketAddress({ address: new IPv6(value).toString(), family: 'ipv6' }).address;
}

export function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && inner.first >= outer.first && inner.last <= outer.last;
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
  const size = 1n << BigInt((base.family === 4 ? 32 : 128) - bits);
  const first = base.first + size * i;
  if (bits < base.bits || first + size - 1n > base.last) return undefined;
  return { family: base.family, cidr: `${format(base.family, first)}/${bits}`, bits, first, last: first + size - 1n };
}
