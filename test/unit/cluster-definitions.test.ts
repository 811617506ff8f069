// Network definitions (src/cluster/definitions.ts) on the in-memory etcd: the
// first host writes it, the others agree or are refused with an error naming
// the option that differs, both values and the host that defined it; a
// worked-out MTU adopts a smaller definition's; three hosts joining at once
// all end up in it; it goes with its last host; leave never rejects.
import t from 'tap';
import { EtcdNetworks } from '../../src/cluster/definitions.js';
import { Keys } from '../../src/cluster/keys.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import type { SharedSpec } from '../../src/cluster/types.js';
import { jitteryKv, vlanSpec } from '../helpers/cluster-pool.js';

const keys = new Keys('/t');

function world(): { kv: MemoryKv; net: (id: string) => EtcdNetworks } {
  const kv = new MemoryKv();
  const shared = jitteryKv(kv);
  return { kv, net: (id) => new EtcdNetworks(shared, keys, id) };
}

t.test('the first host writes the definition, the next one agrees and is added', async (t) => {
  const { kv, net } = world();
  t.teardown(() => kv.close());
  const spec = vlanSpec(860, '10.13.160.0/24', '10.13.160.1');
  const first = await net('h1').join(spec);
  t.match(first, { ...spec, hosts: ['h1'], createdBy: 'h1' });
  const second = await net('h2').join(spec);
  t.same(second.hosts, ['h1', 'h2']);
  t.same((await net('h2').join(spec)).hosts, ['h1', 'h2'], 'joining again changes nothing');
  t.same((await net('h3').get(spec.ident))?.hosts, ['h1', 'h2']);
});

t.test('a different field is refused, naming the option, both values and the defining host', async (t) => {
  const { kv, net } = world();
  t.teardown(() => kv.close());
  const spec = vlanSpec(860, '10.13.160.0/24', '10.13.160.1');
  await net('h1').join(spec);
  const cases: Array<[string, Partial<SharedSpec>, RegExp]> = [
    ['subnet', { subnets: ['10.13.161.0/24'] }, /^network vlan\.860 is already defined in the cluster with subnet 10\.13\.160\.0\/24 \(by host h1\); this one has 10\.13\.161\.0\/24: give the same --subnet, or use another vlan$/],
    ['gateway', { gateways: ['10.13.160.254'] }, /gateway 10\.13\.160\.1 .*this one has 10\.13\.160\.254/],
    ['internal', { internal: true }, /internal false .*this one has true/],
    ['aux-address', { aux: ['10.13.160.9'] }, /aux-address none .*this one has 10\.13\.160\.9/],
    ['remote', { mesh: true }, /remote /],
    ['mtu', { mtu: 9000, mtuExplicit: true }, /mtu 1500 .*this one has 9000/],
  ];
  for (const [option, change, message] of cases) {
    await t.rejects(net('h2').join({ ...spec, ...change }), { name: 'InvalidOptionError', option, message }, option);
  }
  t.same((await net('h1').get(spec.ident))?.hosts, ['h1'], 'a refused host is not added');
});

t.test('MTU: equal when given; a worked-out one adopts a definition\'s that is not larger', async (t) => {
  const { kv, net } = world();
  t.teardown(() => kv.close());
  const spec: SharedSpec = { ...vlanSpec(5001, '10.50.0.0/16', '10.50.0.1'), ident: 'vxlan.5001', mode: 'vxlan', tag: 5001, mesh: true, mtu: 1450 };
  await net('h1').join(spec);
  t.equal((await net('h2').join({ ...spec, mtu: 1500 })).mtu, 1450, 'a larger underlay adopts 1450');
  await t.rejects(net('h3').join({ ...spec, mtu: 1400 }), { option: 'mtu', message: /mtu 1450 .*this one has 1400/ }, 'a smaller underlay cannot');
  t.equal((await net('h4').join({ ...spec, mtu: 1450, mtuExplicit: true })).mtu, 1450, 'an equal explicit MTU agrees');
  await t.rejects(net('h5').join({ ...spec, mtu: 1400, mtuExplicit: true }), { name: 'InvalidOptionError', option: 'mtu' });
});

t.test('three hosts joining at once are all in the definition', async (t) => {
  const { kv, net } = world();
  t.teardown(() => kv.close());
  const spec = vlanSpec(870, '10.13.170.0/24', '10.13.170.1');
  await Promise.all(['h1', 'h2', 'h3'].map((h) => net(h).join(spec)));
  t.same((await net('h1').get(spec.ident))?.hosts, ['h1', 'h2', 'h3']);
});

t.test('leave: the definition stays for the others and goes with the last host; never rejects', async (t) => {
  const { kv, net } = world();
  t.teardown(() => kv.close());
  const spec = vlanSpec(871, '10.13.171.0/24', '10.13.171.1');
  await net('h1').join(spec);
  await net('h2').join(spec);
  await net('h1').leave(spec.ident);
  t.same((await net('h2').get(spec.ident))?.hosts, ['h2']);
  await net('h1').leave(spec.ident);
  t.same((await net('h2').get(spec.ident))?.hosts, ['h2'], 'leaving twice changes nothing');
  await net('h2').leave(spec.ident);
  t.equal(await net('h2').get(spec.ident), undefined, 'gone with the last host');
  t.same((await net('h3').join({ ...spec, subnets: ['10.13.172.0/24'] })).subnets, ['10.13.172.0/24'], 'then the identity is free for another plan');
  kv.setUnreachable(true);
  await t.resolves(net('h3').leave(spec.ident), 'etcd away: leave resolves');
  await t.rejects(net('h4').join(spec), { name: 'ClusterUnreachableError' }, 'join fails with the etcd error');
});

t.test('leave of another host (ovsvlan ipam reclaim): that host goes, this one stays joined', async (t) => {
  const { kv, net } = world();
  t.teardown(() => kv.close());
  const spec = vlanSpec(873, '10.13.173.0/24', '10.13.173.1');
  const h1 = net('h1');
  await h1.join(spec);
  await net('h2').join(spec);
  await h1.leave(spec.ident, 'h2');
  t.same((await h1.get(spec.ident))?.hosts, ['h1'], 'h2 removed');
  t.ok(h1.joinedWithin(spec.ident, 60_000), 'this host\'s own join is still remembered');
  await h1.leave(spec.ident, 'h1');
  t.equal(await h1.get(spec.ident), undefined, 'gone with the last host');
});

t.test('a malformed definition is an error naming its key', async (t) => {
  const { kv, net } = world();
  t.teardown(() => kv.close());
  await kv.txn([], [{ op: 'put', key: keys.network('vlan.880'), value: '{"ident":"vlan.880"}' }]);
  await t.rejects(net('h1').join(vlanSpec(880, '10.13.180.0/24', '10.13.180.1')), { name: 'StoreError', message: /\/t\/v1\/networks\/vlan\.880 .*malformed \(mode, tag, subnets/ });
  await kv.txn([], [{ op: 'put', key: keys.network('vlan.881'), value: 'not json' }]);
  await t.rejects(net('h1').get('vlan.881'), { name: 'StoreError', message: /vlan\.881 in etcd is not JSON/ });
});

t.test('check: refuses as join would, and writes nothing (CreateNetwork of a second local copy asks it)', async (t) => {
  const { kv, net } = world();
  const spec = vlanSpec(860, '10.13.160.0/24', '10.13.160.1');
  await net('h1').check(spec);
  t.equal(await kv.get(keys.network(spec.ident)), undefined, 'no definition: nothing checked, nothing written');
  await net('h1').join(spec);
  const before = (await kv.get(keys.network(spec.ident)))?.modRevision;
  await t.rejects(net('h2').check({ ...spec, subnets: ['10.13.161.0/24'] }), { name: 'InvalidOptionError', option: 'subnet' }, 'a difference is refused');
  await net('h2').check(spec);
  t.equal((await kv.get(keys.network(spec.ident)))?.modRevision, before, 'h2 was not added: check never writes');
});
