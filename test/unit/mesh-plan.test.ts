// The mesh's plan (cluster/mesh-plan.ts) and ownership of its tunnels (names.ts, reconcile/wanted.ts):
// which hosts a mesh network has tunnels to, what changes, and that reconciliation and status
// leave a mesh network's tunnels alone but not those of a gone network.
import t from 'tap';
import { meshPeers, planTunnels, type MeshTunnel } from '../../src/cluster/mesh-plan.js';
import type { HostRecord } from '../../src/cluster/types.js';
import { infraExternalIds, meshPeerOf, meshTunnelExternalIds, meshTunnelName } from '../../src/names.js';
import { isMeshTunnel, meshBridges } from '../../src/reconcile/wanted.js';
import type { NetworkRecord } from '../../src/store/records.js';

const host = (id: string, underlayIp: string, encapsulations: HostRecord['encapsulations'] = ['vxlan', 'gre']): HostRecord => ({
  id, underlayIp, encapsulations, mtu: 1500, versions: {}, epoch: 1, startedAt: 0, updatedAt: 0, tunnels: {}, conflicts: [],
});
const SELF = { hostId: 'h1', underlayIp: '10.0.0.1' };
const alive = (...hs: HostRecord[]): Map<string, HostRecord> => new Map(hs.map((h) => [h.id, h]));

t.test('peers: every other alive host of the encapsulation, departed ones during their grace', async (t) => {
  const now = 100_000;
  const { peers, recheckAt } = meshPeers(
    alive(host('h1', '10.0.0.1'), host('h2', '10.0.0.2'), host('h3', '10.0.0.3', ['gre']), host('h4', '')),
    new Map([
      ['h5', { record: host('h5', '10.0.0.5'), since: now - 1_000 }],
      ['h6', { record: host('h6', '10.0.0.6'), since: now - 9_000 }],
      ['h7', { record: host('h7', '10.0.0.7'), since: now - 10_000 }],
    ]),
    SELF, 'vxlan', 10_000, now);
  t.same([...peers].sort(), [['h2', '10.0.0.2'], ['h5', '10.0.0.5'], ['h6', '10.0.0.6']],
    'not itself, not a gre-only host, not one without an underlay address, not one whose grace has ended');
  t.equal(recheckAt, now + 1_000, 'run again when the first grace ends (h6)');
  t.equal(meshPeers(alive(host('h2', '10.0.0.2')), new Map(), SELF, 'gre', 10_000, now).recheckAt, undefined, 'nothing to re-check');
});

t.test('peers: one tunnel per underlay address, the alive host first', async (t) => {
  const { peers } = meshPeers(
    alive(host('b', '10.0.0.2'), host('c', '10.0.0.2'), host('d', '10.0.0.1')),
    new Map([['a', { record: host('a', '10.0.0.2'), since: 0 }]]),
    SELF, 'vxlan', 10_000, 1);
  t.same([...peers], [['b', '10.0.0.2']], 'the departed a and the alive c share b\'s address, d has this host\'s');
});

t.test('plan: new peers added, gone peers removed, a changed address replaced, the rest kept', async (t) => {
  const tun = (hostId: string, remote: string, over: Partial<MeshTunnel> = {}): MeshTunnel =>
    ({ name: meshTunnelName('n', hostId), hostId, remote, type: 'vxlan', key: '42', protected: true, ...over });
  const plan = planTunnels(
    [tun('h2', '10.0.0.2'), tun('h3', '10.0.0.33'), tun('h4', '10.0.0.4'), tun('h6', '10.0.0.6')],
    [tun('h2', '10.0.0.2'), tun('h3', '10.0.0.3'), tun('h5', '10.0.0.5'), tun('h6', '10.0.0.6', { protected: false })]);
  t.same(plan.add.map((x) => x.hostId), ['h3', 'h4', 'h6'], 'h3 moved, h4 new, h6 lost its split horizon');
  t.same(plan.remove.map((x) => x.hostId), ['h5']);
  t.equal(plan.tunnels, 4);
  t.same(planTunnels([tun('h2', '10.0.0.2')], [tun('h2', '10.0.0.2')]), { add: [], remove: [], tunnels: 1 }, 'nothing to do');
  const kept = planTunnels([tun('h2', '10.0.0.2')], [tun('h2', '10.0.0.2'), tun('h7', '10.0.0.7'), tun('h8', '10.0.0.8')], (x) => x.hostId === 'h7');
  t.same(kept.remove.map((x) => x.hostId), ['h8'], 'an unwanted tunnel the caller keeps is not removed');
  t.equal(kept.tunnels, 2, 'and counts');
});

t.test('mesh tunnels: named from network and peer, marked with both; owned by a live mesh network on its bridge only', async (t) => {
  t.match(meshTunnelName('n1', 'h2'), /^ovt[0-9a-f]{12}$/);
  t.not(meshTunnelName('n1', 'h2'), meshTunnelName('n1', 'h3'));
  t.not(meshTunnelName('n1', 'h2'), meshTunnelName('n2', 'h2'));
  t.same(meshPeerOf(meshTunnelExternalIds('n1', 'h2')), { networkId: 'n1', hostId: 'h2' });
  t.equal(meshPeerOf(infraExternalIds('tunnel', 'n1')), undefined, 'a remote= tunnel has no peer');
  const net = (id: string, mesh: boolean): NetworkRecord => ({
    id, mode: 'vxlan', bridge: `ovb-${id}`, vlan: undefined, mtu: 1450, key: 7, remotes: [], uplink: undefined, nativeVlan: undefined,
    hostIp: undefined, datapath: 'system', gatewayV4: undefined, gatewayV6: undefined, internal: false, mesh,
  });
  const mesh = meshBridges([net('n1', true), net('n2', false)]);
  const port = (network: string, bridge: string): { bridge: string; externalIds: Record<string, string> } =>
    ({ bridge, externalIds: meshTunnelExternalIds(network, 'h2') });
  t.ok(isMeshTunnel(port('n1', 'ovb-n1'), mesh), 'a mesh network\'s tunnel on its bridge');
  t.notOk(isMeshTunnel(port('n1', 'elsewhere'), mesh), 'on another bridge: an orphan');
  t.notOk(isMeshTunnel(port('n2', 'ovb-n2'), mesh), 'of a network that is no mesh');
  t.notOk(isMeshTunnel(port('n3', 'ovb-n3'), mesh), 'of a gone network');
  t.notOk(isMeshTunnel({ bridge: 'ovb-n1', externalIds: infraExternalIds('tunnel', 'n1') }, mesh), 'a tunnel without a peer mark');
});
