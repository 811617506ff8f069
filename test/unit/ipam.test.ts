// Pure IPAM logic: prefixes, the allocator's search, and default pool choice.
import t from 'tap';
import { format, nthSubnet, parseAddress, parsePrefix, reserved } from '../../src/ipam/address.js';
import { nextFree } from '../../src/ipam/allocator.js';
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

t.test('allocator resumes after the last address, skips taken ones, and ends when full', async (t) => {
  const range = P('10.0.0.0/29'); // .0-.7
  const taken = new Set([A('10.0.0.0'), A('10.0.0.7'), A('10.0.0.1')]);
  t.equal(format(4, nextFree({ range, taken, last: undefined })!), '10.0.0.2');
  t.equal(format(4, nextFree({ range, taken, last: A('10.0.0.4') })!), '10.0.0.5');
  t.equal(format(4, nextFree({ range, taken: new Set([...taken, A('10.0.0.5'), A('10.0.0.6')]), last: A('10.0.0.4') })!), '10.0.0.2', 'wraps around');
  const full = new Set(Array.from({ length: 8 }, (_, i) => A(`10.0.0.${i}`)));
  t.equal(nextFree({ range, taken: full, last: A('10.0.0.3') }), undefined);
  const big = P('fd00::/64');
  t.equal(format(6, nextFree({ range: big, taken: new Set([big.first]), last: undefined })!), 'fd00::1', 'a /64 is no problem');
});

t.test('pool choice', async (t) => {
  const defaults = { base: P('10.200.0.0/22'), bits: 24 };
  t.equal(choosePool({ pool: '192.168.0.0/24', subPool: '', v6: false }, [P('192.168.0.0/24')], defaults).pool.cidr, '192.168.0.0/24', 'an explicit subnet may repeat');
  const held = [P('10.200.0.0/24'), P('10.200.2.0/23')];
  t.equal(choosePool({ pool: '', subPool: '', v6: false }, held, defaults).pool.cidr, '10.200.1.0/24', 'first free default');
  const err = t.throws(() => choosePool({ pool: '', subPool: '', v6: false }, [P('10.200.0.0/22')], defaults)) as Error;
  t.ok(err instanceof InvalidOptionError);
  t.match(err.message, /no free \/24 left in the default range 10\.200\.0\.0\/22: give --subnet/);
  t.throws(() => choosePool({ pool: '10.0.0.0/24', subPool: '10.1.0.0/25', v6: false }, [], defaults), /ip-range "10.1.0.0\/25": must be a CIDR inside subnet 10.0.0.0\/24/);
  t.throws(() => choosePool({ pool: 'fd00::/64', subPool: '', v6: false }, [], defaults), /must be an IPv4 CIDR/);
  t.equal(choosePool({ pool: '10.0.0.0/24', subPool: '10.0.0.128/25', v6: false }, [], defaults).subPool?.cidr, '10.0.0.128/25');
});
