// What address sync reads of a host (cluster/local-view.ts): the spec of each
// shared network, rebuilt from the records, must be the one CreateNetwork
// joined with (driver/shared.ts), or sync's re-join would find a difference
// that is not there; held addresses are the containers' leases only.
import t from 'tap';
import pino from 'pino';
import { localView } from '../../src/cluster/local-view.js';
import { sharedSpecOf } from '../../src/driver/shared.js';
import { parseNetworkOptions } from '../../src/driver/options.js';
import { bindNetwork, claimAddresses } from '../../src/ipam/bind.js';
import { parsePrefix } from '../../src/ipam/address.js';
import { requestAddress, requestPool, type IpamContext } from '../../src/ipam/ipam.js';
import { KeyedMutex } from '../../src/lock.js';
import type { CreateNetworkReq } from '../../src/protocol/types.js';
import type { NetworkRecord } from '../../src/store/records.js';
import { tempState } from '../helpers/temp-state.js';

t.test('a shared network\'s spec rebuilt from the records is the one it joined with; held = its containers\' addresses', async (t) => {
  const state = await tempState(t, 'local-view');
  const ctx: IpamContext = { state, locks: new KeyedMutex(), log: pino({ level: 'silent' }),
    defaults: { v4: { base: parsePrefix('10.200.0.0/16')!, bits: 24 }, v6: { base: parsePrefix('fd00::/48')!, bits: 64 } } };
  // what docker network create --subnet 10.61.0.0/24 --subnet fd61::/64 --aux-address a=10.61.0.9 -o mode=vxlan -o vni=61 does
  const v4 = await requestPool(ctx, { addressSpace: '', pool: '10.61.0.0/24', subPool: '', v6: false });
  const v6 = await requestPool(ctx, { addressSpace: '', pool: 'fd61::/64', subPool: '', v6: true });
  const gw4 = await requestAddress(ctx, v4.poolId, undefined, true);
  const gw6 = await requestAddress(ctx, v6.poolId, undefined, true);
  const aux = await requestAddress(ctx, v4.poolId, '10.61.0.9', false);
  const req: CreateNetworkReq = {
    networkId: 'n'.repeat(64), generic: { mode: 'vxlan', vni: '61' }, internal: true,
    ipv4: [{ pool: '10.61.0.0/24', gateway: gw4, aux: { a: aux } }], ipv6: [{ pool: 'fd61::/64', gateway: gw6, aux: {} }],
  };
  const spec = parseNetworkOptions(req.generic, 'ovs0', true);
  const joined = sharedSpecOf('vxlan.61', req, spec, 1450);
  const record: NetworkRecord = {
    id: req.networkId, mode: 'vxlan', bridge: 'ovbnnnnnnnnnnnn', vlan: undefined, mtu: 1450, key: 61, remotes: [], uplink: undefined,
    nativeVlan: undefined, hostIp: undefined, datapath: 'system', gatewayV4: '10.61.0.1', gatewayV6: 'fd61::1', internal: true,
    subnets: ['10.61.0.0/24', 'fd61::/64'], ident: 'vxlan.61', mesh: true,
  };
  await state.putNetwork(record);
  await bindNetwork(ctx, req.networkId, [...req.ipv4, ...req.ipv6]);
  await state.putNetwork({ ...record, id: 'l'.repeat(64), ident: undefined, key: 62 }); // a network of this host alone

  const view = localView(state);
  t.same([...view.networks().keys()], ['vxlan.61'], 'only networks with an identity');
  t.same(view.networks().get('vxlan.61'), joined, 'the spec it joined with: subnets, gateways, aux, MTU, internal, mesh');

  const c1 = await requestAddress(ctx, v4.poolId, undefined, false);
  const c2 = await requestAddress(ctx, v6.poolId, undefined, false);
  await claimAddresses(ctx, req.networkId, 'e'.repeat(64), [c1]);
  t.same([...(view.held().get('vxlan.61') ?? [])].sort(), [c1.split('/')[0], c2.split('/')[0]].sort(),
    'a claimed and a pending container address; never the gateways or the aux address');
});
