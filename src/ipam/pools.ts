// Which subnet a RequestPool gets (pure). With --subnet, exactly that one:
// several networks may share a subnet, each VLAN being its own address space.
// Without it (or with Docker 29's `--subnet 0.0.0.0/24`, which asks for a /24
// of the default range), the first subnet of the default range that no pool
// holds, so a retry while earlier answers are held (Docker does that on
// overlap with host routes) always gets a new one, and an exhausted range is
// an error, never a loop.
//
// The search costs one step per pool held, not per candidate subnet (a
// default range may have 65,536 of them), and yields the event loop between
// slices (see timeslice.ts): the pools held are a list the caller can grow.
import { InvalidOptionError, quoted } from '../errors.js';
import { TimeSlice } from '../timeslice.js';
import { contains, nthSubnet, overlaps, parsePrefix, type Prefix } from './address.js';

export interface DefaultRange {
  base: Prefix;
  /** prefix length of each subnet handed out */
  bits: number;
}

export interface PoolChoice {
  pool: Prefix;
  subPool: Prefix | undefined;
  auto: boolean;
}

/**
 * `req.pool` is `--subnet` and `req.subPool` `--ip-range`, "" when not given;
 * `held`: the subnets (CIDR) of the pools already held, of any family.
 */
export async function choosePool(req: { pool: string; subPool: string; v6: boolean }, held: readonly string[], defaults: DefaultRange): Promise<PoolChoice> {
  const family = req.v6 ? 6 : 4;
  const pool = req.pool === '' ? undefined : parsePrefix(req.pool);
  if (req.pool !== '' && (!pool || pool.family !== family)) {
    throw new InvalidOptionError('subnet', `invalid subnet ${quoted(req.pool)}: must be an IPv${family} CIDR with no host bits set, e.g. ${family === 4 ? '10.13.160.0/24' : 'fd00:13:160::/64'}`);
  }
  // Docker 29 passes `--subnet 0.0.0.0/24` (or `::/64`) verbatim: a subnet of that size from the default range
  if (!pool || pool.first === 0n) {
    if (req.subPool !== '') throw new InvalidOptionError('ip-range', '--ip-range needs --subnet');
    const bits = pool && pool.bits > 0 ? pool.bits : defaults.bits;
    return { pool: await firstFree(defaults, held, bits), subPool: undefined, auto: true };
  }
  let subPool: Prefix | undefined;
  if (req.subPool !== '') {
    subPool = parsePrefix(req.subPool);
    if (!subPool || !contains(pool, subPool)) {
      throw new InvalidOptionError('ip-range', `invalid ip-range ${quoted(req.subPool)}: must be a CIDR inside subnet ${pool.cidr}`);
    }
  }
  return { pool, subPool, auto: false };
}

/**
 * The first /bits of the default range that overlaps no held subnet. The
 * candidates are numbered from the start of the range; each held subnet
 * blocks one candidate (when it is as small or smaller) or a span of them.
 * The answer is the lowest number blocked by neither, found in at most
 * (held + 1) steps.
 */
async function firstFree(d: DefaultRange, held: readonly string[], bits: number): Promise<Prefix> {
  const { base } = d;
  const width = base.family === 4 ? 32 : 128;
  if (bits < base.bits || bits > width) {
    throw new InvalidOptionError('subnet', `a /${bits} does not fit in the default range ${base.cidr}: give --subnet, or a prefix length from ${base.bits} to ${width}`);
  }
  const shift = BigInt(width - bits);
  // beyond 2^53 candidates (an IPv6 range cut into /128s) the numbers lose precision, but such a range is never used up
  const count = Math.min(Number.MAX_SAFE_INTEGER, Number(1n << BigInt(bits - base.bits)));
  const numberOf = (address: bigint): number => Number((address - base.first) >> shift);
  const slice = new TimeSlice();
  const single = new Set<number>();
  const spans: Array<{ from: number; to: number }> = [];
  for (const cidr of held) {
    if (slice.due) await slice.pause();
    const h = parsePrefix(cidr);
    if (!h || !overlaps(h, base)) continue;
    const from = numberOf(h.first > base.first ? h.first : base.first);
    const to = numberOf(h.last < base.last ? h.last : base.last);
    if (from === to) single.add(from);
    else spans.push({ from, to });
  }
  spans.sort((a, b) => a.from - b.from);
  let n = 0;
  let s = 0;
  while (n < count) {
    if (slice.due) await slice.pause();
    while (s < spans.length && spans[s]!.to < n) s++;
    const span = spans[s];
    if (span && span.from <= n) n = span.to + 1;
    else if (single.has(n)) n++;
    else return nthSubnet(base, bits, BigInt(n))!;
  }
  throw new InvalidOptionError('subnet', `no free /${bits} left in the default range ${base.cidr}: give --subnet, or remove unused networks`);
}
