// Pure IPAM logic: prefixes, the allocator's search, and default pool choice.
import t from 'tap';
import { format, nthSubnet, parseAddress, parseInterfaceAddress, parsePrefix, reserved } from '../../src/ipam/address.js';
import { nextFree } from '../../src/ipam/allocator.js';
import { poolFree } from '../../src/ipam/ipam.js';
import type { PoolRecord } from '../../src/store/records.js';
import { choosePool } from '../../src/ipam/pools.js';
import { InvalidOptionError } from '../../src/errors.js';

const P = (c: string) => parsePrefix(c)!;
const A = (a: string) => parseAddress(a)!.value;

t.test('prefixes and addresses', async (t) => {
  t.equal(P('10.13.160.0/24').cidr, '10.13.160.0/24');
  t.equal(parsePrefix('10.13.160.1/24'), undefined, 'host bits set');
  t.equal(P('fd00:0:0:1::/64').cidr, 'fd00:0:0:1::/64');
  t.equal(format(6, A('fd00:0:0:0:0:0:0:5')), 'fd00::5', 'RFC 5952 text');
  t.same(reserved(P('10.0.0.0/24')), [A('10.0.0.0'), A('10.0.0.255')]);
  t.same(reserved(P('10.0.0.0/31')), []);
  t.same(reserved(P('fd00::/64')), [A('fd00::')]);
  t.equal(nthSubnet(P('10.200.0.0/16'), 24, 3n)?.cidr, '10.200.3.0/24');
  t.equal(nthSubnet(P('10.200.0.0/16'), 24, 256n), undefined);
});

t.test('addresses and CIDRs are read strictly, as Go prints them', async (t) => {
  for (const bad of ['010.1.1.1', ' 10.1.1.1', '10.1.1.1 ', 'fe80::1%eth0', '10.1.1', '1::2::3', '', 'x'.repeat(100)]) {
    t.equal(parseAddress(bad), undefined, `address ${JSON.stringify(bad.slice(0, 20))}`);
  }
  for (const bad of ['10.0.0.0/024', '10.0.0.0/+8', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/8 ', '10.0.0.0', 'fe80::%eth0/64']) {
    t.equal(parsePrefix(bad), undefined, `prefix ${JSON.stringify(bad)}`);
  }
  t.same(parseInterfaceAddress('10.1.0.5/24'), { family: 4, value: A('10.1.0.5'), bits: 24, subnet: P('10.1.0.0/24') }, 'host bits allowed');
  t.equal(parseInterfaceAddress('fd00::5/64')?.subnet.cidr, 'fd00::/64');
  t.equal(parseInterfaceAddress('$(id)/99'), undefined);
  t.equal(parseInterfaceAddress('10.1.0.5/33'), undefined);
});

const taken = (values: bigint[]) => ({ isTaken: (v: bigint) => values.includes(v), takenCount: () => values.length });

t.test('allocator resumes after the last address, skips taken ones, and ends when full', async (t) => {
  const range = P('10.0.0.0/29'); // .0-.7
  const used = [A('10.0.0.0'), A('10.0.0.7'), A('10.0.0.1')];
  t.equal(format(4, (await nextFree({ range, ...taken(used), last: undefined }))!), '10.0.0.2');
  t.equal(format(4, (await nextFree({ range, ...taken(used), last: A('10.0.0.4') }))!), '10.0.0.5');
  t.equal(format(4, (await nextFree({ range, ...taken([...used, A('10.0.0.5'), A('10.0.0.6')]), last: A('10.0.0.4') }))!), '10.0.0.2', 'wraps around');
  const full = Array.from({ length: 8 }, (_, i) => A(`10.0.0.${i}`));
  t.equal(await nextFree({ range, ...taken(full), last: A('10.0.0.3') }), undefined);
  const big = P('fd00::/64');
  t.equal(format(6, (await nextFree({ range: big, ...taken([big.first]), last: undefined }))!), 'fd00::1', 'a /64 is no problem');
});

t.test('a long allocation search lets the event loop run', async (t) => {
  const range = P('10.0.0.0/8');
  let turns = 0;
  const tick = setInterval(() => turns++, 0);
  // every address up to 10.3.255.255 taken: 262,144 candidates to visit
  const end = A('10.4.0.0');
  const free = await nextFree({ range, isTaken: (v) => v < end, takenCount: () => 262_144, last: undefined });
  clearInterval(tick);
  t.equal(format(4, free!), '10.4.0.0');
  t.ok(turns > 0, `timers ran ${turns} times during the search`);
});

const choose = (req: { pool: string; subPool?: string; v6?: boolean }, held: string[], defaults: { base: ReturnType<typeof P>; bits: number }) =>
  choosePool({ subPool: '', v6: false, ...req }, held, defaults);

t.test('pool choice', async (t) => {
  const defaults = { base: P('10.200.0.0/22'), bits: 24 };
  t.equal((await choose({ pool: '192.168.0.0/24' }, ['192.168.0.0/24'], defaults)).pool.cidr, '192.168.0.0/24', 'an explicit subnet may repeat');
  t.equal((await choose({ pool: '' }, ['10.200.0.0/24', '10.200.2.0/23'], defaults)).pool.cidr, '10.200.1.0/24', 'first free default');
  t.equal((await choose({ pool: '' }, ['10.200.0.0/24', '10.200.1.128/25', 'fd00::/64'], defaults)).pool.cidr, '10.200.2.0/24', 'a smaller pool blocks its /24');
  t.equal((await choose({ pool: '' }, ['10.0.0.0/8'], { base: P('10.200.0.0/16'), bits: 24 }).catch((e: Error) => e.message)),
    'no free /24 left in the default range 10.200.0.0/16: give --subnet, or remove unused networks', 'a larger pool blocks them all');
  const err = await choose({ pool: '' }, ['10.200.0.0/22'], defaults).catch((e: unknown) => e) as Error;
  t.ok(err instanceof InvalidOptionError);
  t.match(err.message, /no free \/24 left in the default range 10\.200\.0\.0\/22: give --subnet/);
  await t.rejects(choose({ pool: '10.0.0.0/24', subPool: '10.1.0.0/25' }, [], defaults), /ip-range "10.1.0.0\/25": must be a CIDR inside subnet 10.0.0.0\/24/);
  await t.rejects(choose({ pool: 'fd00::/64' }, [], defaults), /must be an IPv4 CIDR/);
  t.equal((await choose({ pool: '10.0.0.0/24', subPool: '10.0.0.128/25' }, [], defaults)).subPool?.cidr, '10.0.0.128/25');
});

t.test("Docker 29's --subnet 0.0.0.0/N and ::/N: a subnet of that size from the default range", async (t) => {
  const v4 = { base: P('10.200.0.0/16'), bits: 24 };
  const v6 = { base: P('fd6f:7673:766c::/48'), bits: 64 };
  t.same(await choose({ pool: '0.0.0.0/26' }, ['10.200.0.0/26'], v4), { pool: P('10.200.0.64/26'), subPool: undefined, auto: true });
  t.equal((await choose({ pool: '0.0.0.0/20' }, ['10.200.0.0/24'], v4)).pool.cidr, '10.200.16.0/20', 'larger than the default size');
  t.equal((await choose({ pool: '0.0.0.0/0' }, [], v4)).pool.cidr, '10.200.0.0/24', '/0: the default size');
  t.equal((await choose({ pool: '::/56', v6: true }, [], v6)).pool.cidr, 'fd6f:7673:766c::/56');
  await t.rejects(choose({ pool: '0.0.0.0/8' }, [], v4), /a \/8 does not fit in the default range 10.200.0.0\/16/);
  await t.rejects(choose({ pool: '0.0.0.0/24', subPool: '0.0.0.0/25' }, [], v4), /--ip-range needs --subnet/);
});

t.test('a default range of 65,536 subnets, all held: one step per pool, and the event loop runs', async (t) => {
  const v6 = { base: P('fd6f:7673:766c::/48'), bits: 64 };
  const held = Array.from({ length: 65_536 }, (_, i) => `fd6f:7673:766c:${i.toString(16)}::/64`);
  let turns = 0;
  const tick = setInterval(() => turns++, 0);
  await t.rejects(choose({ pool: '', v6: true }, held, v6), /no free \/64 left in the default range fd6f:7673:766c::\/48/);
  clearInterval(tick);
  t.ok(turns > 0, `timers ran ${turns} times during the search`);
  held.splice(40_000, 1);
  t.equal((await choose({ pool: '', v6: true }, held.reverse(), v6)).pool.cidr, 'fd6f:7673:766c:9c40::/64', 'the one free subnet, whatever the order');
});

t.test('poolFree: what is left to hand out, with and without --ip-range, small (looked up) or large (leases read)', async (t) => {
  const leases: Record<string, { kind: 'pending'; at: number }> = {};
  for (let i = 1; i <= 200; i++) leases[`10.9.${i >> 8}.${i & 255}`] = { kind: 'pending', at: 0 };
  const pool = (subPool?: string): PoolRecord => ({ id: 'p', addressSpace: 'ovsvlan-local', v6: false, pool: '10.9.0.0/16', subPool, networkId: undefined,
    auto: false, lastAllocated: undefined, createdAt: 0, leases });
  t.equal(poolFree(pool()), 65536n - 2n - 200n, 'whole subnet: less network, broadcast and 200 leases');
  t.equal(poolFree(pool('10.9.0.128/26')), 64n - 64n, 'a /26 inside the leased run: none left');
  t.equal(poolFree(pool('10.9.0.192/26')), 64n - 9n, 'a /26 holding 9 of the leases (192-200)');
  t.equal(poolFree(pool('10.9.0.0/19')), 8192n - 201n, 'a /19, larger than the walked range: 200 leases and the network address');
});
