// The tunnel mesh (cluster/mesh.ts) on a real etcd and a real private OVS: host h1 (a Mesh over
// an overlay network record) watches the hosts (EtcdHostView) while fake hosts h2..h5 register
// their liveness records the way the daemon does (EtcdLiveness, each on its own etcd client).
// ovs-vsctl is the observer: h1's bridge gets a tunnel port per live peer with the peer's
// underlay address, the network's VNI and type; a host that joins gets one; one that goes for
// good keeps its port through the grace, then loses it; one whose lease blips keeps it throughout;
// after a restart, a tunnel to a host that went meanwhile is kept for the grace too;
// DeleteNetwork's removeInfra takes them all with the network.
import t from 'tap';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { startEtcdCluster } from '../helpers/etcd.js';
import { startOvsInNetns, type OvsInstance } from '../helpers/ovs.js';
import { RUN_PREFIX, sleep, waitFor } from '../helpers/run.js';
import { tempState } from '../helpers/temp-state.js';
import { EtcdHostView, EtcdLiveness } from '../../src/cluster/hosts.js';
import { openEtcdKv } from '../../src/cluster/etcd-kv.js';
import { Keys } from '../../src/cluster/keys.js';
import { Mesh } from '../../src/cluster/mesh.js';
import type { Kv } from '../../src/cluster/kv.js';
import { removeInfra } from '../../src/dataplane/infra.js';
import { KeyedMutex } from '../../src/lock.js';
import { meshTunnelName } from '../../src/names.js';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import type { NetworkRecord } from '../../src/store/records.js';
import { Vswitch } from '../../src/vswitch/vswitch.js';

const log = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });
const BRIDGE = `${RUN_PREFIX}mb`;
const VNI = 5001;
const GRACE_MS = 8_000;
const NET_ID = createHash('sha256').update(`${RUN_PREFIX}-mesh`).digest('hex');
const underlay = (host: string): string => `10.99.9.${host.slice(1)}`;

/** `peer=remote_ip/type/key` of every tunnel port on the bridge marked with a peer, sorted, as ovs-vsctl shows them. */
async function tunnels(ovs: OvsInstance): Promise<string[]> {
  const onBridge = new Set((await ovs.vsctl(['list-ports', BRIDGE])).split('\n').filter(Boolean));
  const table = JSON.parse(await ovs.vsctl(['--format=json', '--columns=name,type,options,external_ids', 'list', 'Interface'])) as
    { data: Array<[string, string, [string, Array<[string, string]>], [string, Array<[string, string]>]]> };
  return table.data.flatMap(([name, type, options, ids]) => {
    const peer = Object.fromEntries(ids[1])['ovsvlan-peer'];
    const o = Object.fromEntries(options[1]);
    return onBridge.has(name) && peer !== undefined ? [`${peer}=${o['remote_ip'] ?? '?'}/${type}/${o['key'] ?? '?'}`] : [];
  }).sort();
}
const full = (...hosts: string[]): string[] => hosts.map((h) => `${h}=${underlay(h)}/vxlan/${VNI}`).sort();

t.test('a mesh network follows the live hosts of a real etcd', async (t) => {
  const etcd = await startEtcdCluster('mesh', { members: 1, t });
  const { ovs } = await startOvsInNetns(t, 'mesh');
  const keys = new Keys(`/${RUN_PREFIX}`);
  const clients: Kv[] = [];
  const connect = async (): Promise<Kv> => {
    const kv = await openEtcdKv({ endpoints: etcd.endpoints });
    clients.push(kv);
    return kv;
  };
  t.teardown(async () => {
    for (const kv of clients) await kv.close().catch(() => undefined);
  });

  // h1: the OVS side and the view
  const db = new OvsdbClient({ endpoint: ovs.endpoint, logger: log, backoff: { initialMs: 100, maxMs: 800 } });
  t.teardown(() => db.close());
  await db.connect();
  const vswitch = new Vswitch(db);
  await vswitch.ensureBridge(BRIDGE, 'netdev');
  const state = await tempState(t, 'mesh');
  const net: NetworkRecord = {
    id: NET_ID, mode: 'vxlan', bridge: BRIDGE, vlan: undefined, mtu: 1450, key: VNI, remotes: [], uplink: undefined, nativeVlan: undefined,
    hostIp: undefined, datapath: 'netdev', gatewayV4: undefined, gatewayV6: undefined, internal: false, subnets: ['10.50.0.0/16'],
    ports: { tunnels: [], host: undefined }, ident: `vxlan.${VNI}`, mesh: true,
  };
  await state.putNetwork(net);
  const view = new EtcdHostView(await connect(), keys, log);
  t.teardown(() => view.close());
  await view.start();
  let mesh = new Mesh({ state, vswitch, locks: new KeyedMutex(), log }, view, { hostId: 'h1', underlayIp: underlay('h1') }, GRACE_MS);
  t.teardown(() => mesh.close()); // the last one made
  const counts: Array<Record<string, number>> = [];
  mesh.onCounts((c) => counts.push(c));
  mesh.start();

  // the fake hosts: each its own client and liveness record; h1 registers too (and must get no tunnel to itself)
  const hosts = new Map<string, EtcdLiveness>();
  const register = async (id: string): Promise<void> => {
    const live = new EtcdLiveness(await connect(), keys,
      () => ({ id, underlayIp: underlay(id), encapsulations: ['vxlan', 'gre'], mtu: 1500, versions: { ovsvlan: 'test' } }), log, { checkEveryMs: 1_000 });
    await live.start();
    hosts.set(id, live);
  };
  t.teardown(async () => {
    for (const h of hosts.values()) await h.stop();
  });
  /** The lease of a host's alive key, revoked with etcdctl (as etcd does when its leader stalls, or an operator would). */
  const revoke = async (id: string): Promise<void> => {
    const pair = await clients[0]?.get(keys.alive(id));
    const r = await etcd.etcdctl(['lease', 'revoke', BigInt(pair?.lease ?? '0').toString(16)]);
    if (r.exitCode !== 0) throw new Error(`etcdctl lease revoke: ${r.stderr}`);
  };
  const converge = (what: string, want: string[], ms = 15_000): Promise<unknown> =>
    waitFor(what, async () => JSON.stringify(await tunnels(ovs)) === JSON.stringify(want), ms).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}; tunnels now: ${(await tunnels(ovs)).join(' ')}`);
    });

  await t.test('three hosts: three tunnels with their underlay address, the VNI and the type', async (t) => {
    await Promise.all(['h1', 'h2', 'h3', 'h4'].map(register));
    await converge('three tunnels', full('h2', 'h3', 'h4'));
    t.same(await tunnels(ovs), full('h2', 'h3', 'h4'));
    t.equal(await ovs.vsctl(['get', 'Port', meshTunnelName(NET_ID, 'h2'), 'protected']), 'true', 'split horizon: a tunnel never forwards to another');
    t.same(await mesh.run(), { [`vxlan.${VNI}`]: 3 }, 'run() counts the tunnels');
    t.same(counts.at(-1), { [`vxlan.${VNI}`]: 3 }, 'and tells onCounts');
  });

  await t.test('a fourth host joins: four tunnels', async (t) => {
    await register('h5');
    await converge('four tunnels', full('h2', 'h3', 'h4', 'h5'));
    t.pass('h5 got its tunnel without anything re-created');
  });

  await t.test('a host whose lease blips keeps its tunnel throughout', async (t) => {
    const seen: string[][] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        seen.push(await tunnels(ovs));
        await sleep(100);
      }
    })();
    // a blip the test holds open: h3's key gone, a mesh run while it is departed, then h3 back
    await hosts.get('h3')?.stop();
    await revoke('h3');
    await waitFor('h3 departed in the view', async () => view.departed().has('h3'), 5_000);
    await mesh.run();
    t.ok((await tunnels(ovs)).includes(`h3=${underlay('h3')}/vxlan/${VNI}`), 'h3\'s tunnel kept while its key is gone');
    await register('h3');
    await waitFor('h3 alive again', async () => view.alive().has('h3'), 5_000);
    // and a blip under a running liveness record: h2's lease revoked, a new one granted and the key put again
    const lease = (await clients[0]?.get(keys.alive('h2')))?.lease;
    await revoke('h2');
    await waitFor('h2 put again on a new lease', async () => {
      const now = (await clients[0]?.get(keys.alive('h2')))?.lease;
      return now !== undefined && now !== lease;
    }, GRACE_MS);
    await mesh.run();
    sampling = false;
    await sampler;
    t.ok(seen.length > 0, `${seen.length} samples`);
    t.ok(seen.every((x) => x.includes(`h2=${underlay('h2')}/vxlan/${VNI}`) && x.includes(`h3=${underlay('h3')}/vxlan/${VNI}`)),
      'h2\'s and h3\'s tunnels in every sample');
    t.same(await tunnels(ovs), full('h2', 'h3', 'h4', 'h5'));
  });

  await t.test('a host gone for good keeps its tunnel through the grace, then loses it', async (t) => {
    await hosts.get('h4')?.stop();
    hosts.delete('h4');
    const gone = Date.now();
    await revoke('h4');
    await waitFor('h4 departed in the view', async () => view.departed().has('h4'), 5_000);
    await mesh.run();
    t.same(await tunnels(ovs), full('h2', 'h3', 'h4', 'h5'), 'still there right after it went');
    await sleep(Math.max(0, gone + GRACE_MS - 1_500 - Date.now()));
    t.same(await tunnels(ovs), full('h2', 'h3', 'h4', 'h5'), 'still there shortly before the grace ends');
    await converge('h4\'s tunnel gone after the grace', full('h2', 'h3', 'h5'));
    t.ok(Date.now() - gone >= GRACE_MS - 1_000, 'not before the grace');
  });

  await t.test('a restart: the new mesh keeps a tunnel to a host that went while it was down for the grace, then removes it', async (t) => {
    await mesh.close();
    await view.close();
    await hosts.get('h5')?.stop();
    hosts.delete('h5');
    await revoke('h5'); // h5 goes while h1's daemon is down: the new view never sees it
    const view2 = new EtcdHostView(await connect(), keys, log);
    t.teardown(() => view2.close());
    await view2.start();
    t.notOk(view2.alive().has('h5') || view2.departed().has('h5'), 'the new view has never heard of h5');
    const started = Date.now();
    mesh = new Mesh({ state, vswitch, locks: new KeyedMutex(), log }, view2, { hostId: 'h1', underlayIp: underlay('h1') }, GRACE_MS);
    mesh.start();
    t.same(await mesh.run(), { [`vxlan.${VNI}`]: 3 }, 'h5\'s tunnel counted');
    t.same(await tunnels(ovs), full('h2', 'h3', 'h5'), 'and kept at start');
    await converge('h5\'s tunnel gone after the grace', full('h2', 'h3'));
    t.ok(Date.now() - started >= GRACE_MS - 1_000, 'not before the grace');
  });

  await t.test('the network deleted: its mesh tunnels go with it and the mesh makes none again', async (t) => {
    await state.removeNetwork(NET_ID);
    await removeInfra({ state, vswitch, locks: new KeyedMutex(), log }, net);
    t.same(await tunnels(ovs), [], 'removeInfra took every mesh tunnel of the network');
    t.same(await mesh.run(), {}, 'no mesh network left');
    t.same(await tunnels(ovs), []);
  });
});
