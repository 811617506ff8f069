// What the records want of OVS (reconcile/wanted.ts): the names of old and new records, and
// that a port is wanted only with the marks of the endpoint or network that wants it.
import t from 'tap';
import { infraExternalIds, networkPortNames, portExternalIds, spareExternalIds, spareMark, spareVethNames, vethNames } from '../../src/names.js';
import { isOrphanLink, isWantedPort, isWantedSpare, recordedLinks, wantedPorts } from '../../src/reconcile/wanted.js';
import type { EndpointRecord, NetworkRecord } from '../../src/store/records.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const overlay = (ports?: NetworkRecord['ports']): NetworkRecord => ({
  id: NET, mode: 'vxlan', bridge: 'ovbx', vlan: undefined, mtu: 1450, key: 7, remotes: ['192.0.2.1', '192.0.2.2'], uplink: undefined,
  nativeVlan: undefined, hostIp: '10.0.0.254/24', datapath: 'netdev', gatewayV4: undefined, gatewayV6: undefined, internal: false, ...(ports ? { ports } : {}),
});
const ep = (id: string, hostIf = vethNames(id).host): EndpointRecord =>
  ({ id, networkId: NET, hostIf, containerIf: `ovc${hostIf.slice(3)}`, addressV4: undefined, addressV6: undefined, createdAt: 0 });

t.test('a record made before issue 9 wants its old names, a new one the names it holds', async (t) => {
  t.same([...wantedPorts([overlay()], []).keys()].sort(), [`ovi${NET.slice(0, 12)}`, `ovt${NET.slice(0, 10)}00`, `ovt${NET.slice(0, 10)}01`]);
  const names = networkPortNames(NET, 2, true);
  t.same([...wantedPorts([overlay(names)], []).keys()].sort(), [...names.tunnels, names.host].sort());
});

t.test('a port is wanted only with the marks of its endpoint or network', async (t) => {
  const net = overlay(networkPortNames(NET, 2, true));
  const e = ep(EP);
  const wanted = wantedPorts([net], [e]);
  t.ok(isWantedPort(wanted, { name: e.hostIf, bridge: 'elsewhere', externalIds: portExternalIds(NET, EP) }), 'its endpoint\'s port, even on another bridge (repaired)');
  t.notOk(isWantedPort(wanted, { name: e.hostIf, bridge: net.bridge, externalIds: portExternalIds(NET, 'c'.repeat(64)) }), 'a port of that name with another endpoint\'s marks');
  const tunnel = net.ports?.tunnels[0] ?? '';
  t.ok(isWantedPort(wanted, { name: tunnel, bridge: net.bridge, externalIds: infraExternalIds('tunnel', NET) }), 'its tunnel');
  t.notOk(isWantedPort(wanted, { name: tunnel, bridge: net.bridge, externalIds: infraExternalIds('tunnel', 'd'.repeat(64)) }), 'a tunnel of that name of another network');
});

t.test('a live network\'s spares are wanted, a gone network\'s are not; their veths are no orphans while the network lives', async (t) => {
  const live = new Set([NET]);
  t.ok(isWantedSpare({ externalIds: spareExternalIds(NET) }, live), 'a spare of a live network');
  t.notOk(isWantedSpare({ externalIds: spareExternalIds('d'.repeat(64)) }, live), 'a spare of a gone network');
  t.notOk(isWantedSpare({ externalIds: portExternalIds(NET, EP) }, live), 'an endpoint\'s port is no spare');
  const names = spareVethNames();
  const link = { name: names.container, kind: 'veth', alias: spareMark(NET) };
  t.notOk(isOrphanLink(link, new Set(), live), 'a spare veth of a live network');
  t.ok(isOrphanLink(link, new Set(), new Set()), 'a spare veth of a gone network');
  t.ok(isOrphanLink({ ...link, alias: undefined }, new Set(), live), 'an unmarked veth no record names');
  t.notOk(isOrphanLink({ ...link, alias: undefined }, recordedLinks([ep(EP, names.host)]), live), 'a veth a record names (a handed-out spare)');
});
