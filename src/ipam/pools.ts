// Which subnet a RequestPool gets (pure). With --subnet, exactly that one:
// several networks may share a subnet, each VLAN being its own address space.
// Without it, the first subnet of the default range that no pool holds, so a
// retry while earlier answers are held (Docker does that on overlap with host
// routes) always gets a new one, and an exhausted range is an error, never a loop.
import { InvalidOptionError } from '../errors.js';
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

export function choosePool(req: { pool: string; subPool: string; v6: boolean }, held: readonly Prefix[], defaults: DefaultRange): PoolChoice {
  const family = req.v6 ? 6 : 4;
  if (req.pool === '') {
    if (req.subPool !== '') throw new InvalidOptionError('ip-range', '--ip-range needs --subnet');
    return { pool: firstFree(defaults, held), subPool: undefined, auto: true };
  }
  const pool = parsePrefix(req.pool);
  if (!pool || pool.family !== family) {
    throw new InvalidOptionError('subnet', `invalid subnet "${req.pool}": must be an IPv${family} CIDR with no host bits set, e.g. ${family === 4 ? '10.13.160.0/24' : 'fd00:13:160::/64'}`);
  }
  let subPool: Prefix | undefined;
  if (req.subPool !== '') {
    subPool = parsePrefix(req.subPool);
    if (!subPool || !contains(pool, subPool)) {
      throw new InvalidOptionError('ip-range', `invalid ip-range "${req.subPool}": must be a CIDR inside subnet ${pool.cidr}`);
    }
  }
  return { pool, subPool, auto: false };
}

function firstFree(d: DefaultRange, held: readonly Prefix[]): Prefix {
  for (let i = 0n; ; i++) {
    const candidate = nthSubnet(d.base, d.bits, i);
    if (!candidate) {
      throw new InvalidOptionError('subnet', `no free /${d.bits} left in the default range ${d.base.cidr}: give --subnet, or remove unused networks`);
    }
    if (!held.some((h) => overlaps(h, candidate))) return candidate;
  }
}
