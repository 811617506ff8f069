// Cluster-wide addresses (src/cluster/addresses.ts) on the in-memory etcd:
// three simulated hosts racing for one small subnet get distinct addresses,
// --ip of another host's address names that host, a replay is answered
// idempotently, the definition's gateway and aux addresses are never handed
// out, releases are by owner only, a fenced host gets nothing new, and an
// unreachable or silent etcd fails the call with "etcd unreachable: …".
import t from 'tap';
import { ClusterUnreachableError, type Kv } from '../../src/cluster/kv.js';
import { Keys } from '../../src/cluster/keys.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import { format, parseAddress, parsePrefix } from '../../src/ipam/address.js';
import { SimHost, jitteryKv, vlanSpec } from '../helpers/cluster-pool.js';

const keys = new Keys('/t');
const A = (a: string): bigint => parseAddress(a)!.value;
const text = (v: bigint): string => format(4, v);

function world(): { kv: MemoryKv; hosts: SimHost[] } {
  const kv = new MemoryKv();
  const shared = jitteryKv(kv);
  return { kv, hosts: ['h1', 'h2', 'h3'].map((id) => new SimHost(shared, keys, id)) };
}

async function holders(kv: Kv, ident: string): Promise<Map<string, string>> {
  const { pairs } = await kv.range(keys.addresses(ident));
  return new Map(pairs.map((p) => [p.key.slice(keys.addresses(ident).length), (JSON.parse(p.value) as { host: string }).host]));
}

t.test('three hosts take 60 addresses of a /26 at once: 60 distinct, each key naming the host that got it', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const spec = vlanSpec(860, '10.13.160.0/26', '10.13.160.1');
  for (const h of hosts) await h.networks.join(spec);
  const got = await Promise.all(hosts.flatMap((h) => Array.from({ length: 20 }, () => h.request(spec, undefined, A('10.13.160.1')).then((v) => ({ host: h.id, v })))));
  const distinct = new Set(got.map((g) => g.v));
  t.equal(distinct.size, 60, '60 distinct addresses');
  t.notOk(distinct.has(A('10.13.160.1')), 'never the gateway');
  t.notOk(distinct.has(A('10.13.160.0')) || distinct.has(A('10.13.160.63')), 'never the network or broadcast address');
  const inEtcd = await holders(kv, spec.ident);
  t.equal(inEtcd.size, 60, '60 keys in etcd');
  t.ok(got.every((g) => inEtcd.get(text(g.v)) === g.host), 'each key held by the host that got the address');
});

t.test('--ip of an address another host holds fails naming that host; a replay of its own is answered again', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const [h1, h2] = hosts as [SimHost, SimHost];
  const spec = vlanSpec(861, '10.13.161.0/24', '10.13.161.1');
  await h1.networks.join(spec);
  await h2.networks.join(spec);
  t.equal(await h2.request(spec, A('10.13.161.7')), A('10.13.161.7'));
  await t.rejects(h1.request(spec, A('10.13.161.7')), { name: 'ConflictError', message: 'address 10.13.161.7 is already in use by a container on host h2' });
  h2.leases.clear(); // the local lease lost (a crash between the two saves); Docker replays the request
  t.equal(await h2.request(spec, A('10.13.161.7')), A('10.13.161.7'), 'the holder gets it again');
  t.same([...(await holders(kv, spec.ident))], [['10.13.161.7', 'h2']], 'still one key, still h2\'s');
});

t.test('the definition\'s gateway and aux addresses are never handed out, even when this host\'s pool does not know them', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const [h1, h2] = hosts as [SimHost, SimHost];
  const spec = vlanSpec(862, '10.13.162.0/29', '10.13.162.1', { aux: ['10.13.162.2'] });
  await h1.networks.join(spec);
  await h2.networks.join(spec);
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await h2.request(spec));
  t.same(got.map(text).sort(), ['10.13.162.3', '10.13.162.4', '10.13.162.5', '10.13.162.6']);
  await t.rejects(h1.request(spec), { name: 'ConflictError', message: /no free address left in 10\.13\.162\.0\/29/ }, 'the range is full');
  await t.rejects(h1.request(spec, A('10.13.162.2')), { name: 'ConflictError', message: /reserved/ }, '--ip of the aux address');
});

t.test('a dual-stack network: each family\'s gateway is kept from that family\'s pool', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const [h1, h2] = hosts as [SimHost, SimHost];
  const spec = vlanSpec(867, '10.13.167.0/29', '10.13.167.1', { subnets: ['10.13.167.0/29', 'fd00:167::/125'], gateways: ['10.13.167.1', 'fd00:167::1'] });
  await h1.networks.join(spec);
  const take = async (cidr: string): Promise<string> => {
    const prefix = parsePrefix(cidr)!;
    const a = await h2.addresses.allocate({ ident: spec.ident, prefix, range: prefix, wanted: undefined, last: undefined, isTakenLocally: () => false });
    a.settle();
    return format(prefix.family, a.value);
  };
  const v4 = await take('10.13.167.0/29');
  const v6 = [];
  for (let i = 0; i < 6; i++) v6.push(await take('fd00:167::/125'));
  t.not(v4, '10.13.167.1');
  t.same(v6.sort(), ['fd00:167::2', 'fd00:167::3', 'fd00:167::4', 'fd00:167::5', 'fd00:167::6', 'fd00:167::7'], 'every IPv6 address but the network\'s and the gateway');
  await t.rejects(take('fd00:167::/125'), { name: 'ConflictError', message: /no free address left in fd00:167::\/125/ });
});

t.test('release is by the holder only', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const [h1, h2] = hosts as [SimHost, SimHost];
  const spec = vlanSpec(863, '10.13.163.0/24', '10.13.163.1');
  const v = await h1.request(spec, A('10.13.163.9'));
  await h2.addresses.release(spec.ident, text(v));
  t.equal((await holders(kv, spec.ident)).get('10.13.163.9'), 'h1', 'another host\'s release changes nothing');
  await h1.addresses.release(spec.ident, text(v));
  t.equal((await holders(kv, spec.ident)).size, 0, 'the holder\'s release deletes the key');
  await h1.addresses.release(spec.ident, text(v)); // again: nothing to do
});

t.test('a fenced host gets no new address', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const h1 = hosts[0] as SimHost;
  const spec = vlanSpec(864, '10.13.164.0/24', '10.13.164.1');
  await kv.txn([], [{ op: 'put', key: keys.fence('h1'), value: JSON.stringify({ by: 'h2', at: Date.now() }) }]);
  await t.rejects(h1.request(spec), { name: 'ConflictError', message: /^this host \(h1\) was fenced by "ovsvlan ipam reclaim/ });
  await t.rejects(h1.request(spec, A('10.13.164.5')), { name: 'ConflictError', message: /fenced/ });
  t.equal((await holders(kv, spec.ident)).size, 0, 'no key written');
});

t.test('in flight from the put until settle()', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const h1 = hosts[0] as SimHost;
  const spec = vlanSpec(865, '10.13.165.0/24', '10.13.165.1');
  const prefix = parsePrefix(spec.subnets[0]!)!;
  const a = await h1.addresses.allocate({ ident: spec.ident, prefix, range: prefix, wanted: undefined, last: undefined, isTakenLocally: () => false });
  t.ok(h1.addresses.inFlight(spec.ident, text(a.value)), 'in flight before settle');
  a.settle();
  t.notOk(h1.addresses.inFlight(spec.ident, text(a.value)), 'settled');
});

t.test('a take retried after it had applied (its answer lost) is recognised as this host\'s: no key leaked', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  let replays = 0;
  // the etcd store retries a call on another member when the first is slow: the first txn applied, the retry's compare fails
  const retried: Kv = { ...jitteryKv(kv), txn: async (c, ok, f) => {
    if (replays === 0 && ok.some((op) => op.op === 'put' && op.key.startsWith(keys.addresses()))) {
      replays++;
      await kv.txn(c, ok, f);
    }
    return kv.txn(c, ok, f);
  } };
  const h1 = new SimHost(retried, keys, 'h1');
  const spec = vlanSpec(868, '10.13.168.0/24', '10.13.168.1');
  await h1.networks.join(spec);
  const v = await h1.request(spec);
  t.equal(replays, 1, 'the take was retried');
  t.same([...(await holders(kv, spec.ident))], [[text(v), 'h1']], 'one key, the address the call answered with');
});

t.test('etcd unreachable, silent, or not read yet: the call fails with "etcd unreachable: …"; a release resolves', async (t) => {
  const { kv, hosts } = world();
  t.teardown(() => kv.close());
  const h1 = hosts[0] as SimHost;
  const spec = vlanSpec(866, '10.13.166.0/24', '10.13.166.1');
  const v = await h1.request(spec);
  kv.setUnreachable(true);
  await t.rejects(h1.request(spec), ClusterUnreachableError);
  await t.resolves(h1.addresses.release(spec.ident, text(v)), 'a release never rejects');
  kv.setUnreachable(false);
  t.equal((await holders(kv, spec.ident)).get(text(v)), 'h1', 'the key stays for address sync');

  const silent: Kv = { ...jitteryKv(kv), get: () => new Promise(() => undefined), range: () => new Promise(() => undefined), txn: () => new Promise(() => undefined) };
  const stuck = new SimHost(silent, keys, 'h9');
  await t.rejects(stuck.request(spec), { name: 'ClusterUnreachableError', message: /^etcd unreachable: no answer/ }, 'a silent etcd: the call still ends');

  const starting = new SimHost(kv, keys, 'h8');
  starting.epoch = undefined; // the daemon has not read its epoch yet
  await t.rejects(starting.request(spec), { name: 'ClusterUnreachableError', message: /not connected yet/ });
});
