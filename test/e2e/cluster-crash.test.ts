// Issue 11, must-show 6: ovsvlan killed with SIGKILL on one host of a cluster, twice, in the middle
// of a burst of `docker run` (some of them fail, fine) and started again. Once it has settled, the
// address keys etcd holds for that host are exactly the addresses of its running containers that
// have their port (docker inspect, and the port with the network's tag seen by ovs-vsctl): no
// key without its container, no container or port without its key; the other host's keys are
// untouched; a new container gets an address nobody holds. OVSVLAN_LEASE_GRACE is short so that
// addresses handed out but never claimed before the crash are freed within the test.
import t from 'tap';
import { createCluster, type ClusterHost } from '../helpers/cluster.js';
import { addressKeys } from '../helpers/cluster-observe.js';
import { ENDPOINT_KEY, ROLE_KEY } from '../../src/names.js';
import { sleep, waitFor } from '../helpers/run.js';
import { endpointId, ownedPorts } from '../helpers/traffic.js';

const VLAN = 870;
const NET = 'crash870';
const IDENT = `vlan.${VLAN}`;
const BURST = 20;
const LEASE_GRACE_S = 5;

/** What one host shows of its containers on NET: address and endpoint of each running one, and the tags of its endpoint ports. */
interface Observed {
  /** running container → its address on NET ('' when it has none) */
  readonly addresses: Map<string, string>;
  /** running container → its endpoint's OVS port tag (undefined: no port) */
  readonly portTags: Map<string, number | undefined>;
  /** endpoint ports no running container explains */
  readonly strayPorts: string[];
}

/** `h`'s ports of ours that are endpoints' (not spares, uplinks…). */
async function endpointPorts(h: ClusterHost): ReturnType<typeof ownedPorts> {
  return (await ownedPorts(h)).filter((p) => p.externalIds[ROLE_KEY] === 'endpoint');
}

async function observe(h: ClusterHost): Promise<Observed> {
  const running = (await h.dockerOk(['ps', '--format', '{{.Names}}'])).split('\n').filter(Boolean);
  const ports = await endpointPorts(h);
  const byEndpoint = new Map(ports.map((p) => [p.externalIds[ENDPOINT_KEY] ?? '', p]));
  const addresses = new Map<string, string>();
  const portTags = new Map<string, number | undefined>();
  const explained = new Set<string>();
  for (const name of running) {
    addresses.set(name, await h.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, name]));
    const ep = await endpointId(h, name, NET);
    const port = byEndpoint.get(ep);
    portTags.set(name, port?.tag);
    if (port) explained.add(port.name);
  }
  return { addresses, portTags, strayPorts: ports.map((p) => p.name).filter((p) => !explained.has(p)) };
}

/** The addresses of NET's keys in etcd held by `hostId`, sorted. */
async function keysOf(c: Parameters<typeof addressKeys>[0], hostId: string): Promise<string[]> {
  return (await addressKeys(c, IDENT)).filter((k) => k.holder === hostId).map((k) => k.address).sort();
}

t.test('kill -9 of ovsvlan during a burst of docker run: etcd and the host agree after the restart', async (t) => {
  const started = Date.now();
  const c = await createCluster(t, { hosts: 2, leaseGraceSeconds: LEASE_GRACE_S });
  const [h1, h2] = c.hosts as [ClusterHost, ClusterHost];
  for (const h of c.hosts) {
    await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', `vlan=${VLAN}`, '--subnet', '10.87.0.0/24', NET]);
  }
  // h2's containers: their keys must come through h1's crash untouched
  for (let i = 0; i < 3; i++) await h2.dockerOk(['run', '-d', '--name', `h2c${i}`, '--net', NET, 'busybox:local', 'sleep', '3600']);
  const h2Keys = await keysOf(c, 'h2');
  t.equal(h2Keys.length, 3, `h2 holds its 3 addresses: ${h2Keys.join(' ')}`);

  // the burst on h1, and two kills: once a few of its containers have their port, again once half have
  let burstDone = false;
  const burst = Promise.all(Array.from({ length: BURST }, (_, i) =>
    h1.docker(['run', '-d', '--name', `h1c${i}`, '--net', NET, 'busybox:local', 'sleep', '3600'], { timeout: 600_000 })))
    .finally(() => { burstDone = true; });
  for (const threshold of [3, BURST / 2]) {
    const atKill = await waitFor(`${threshold} containers of the burst to have their port`, async () => {
      const n = (await endpointPorts(h1)).length;
      return (n >= threshold || burstDone) && `${n}`;
    }, 300_000);
    const plugin = h1.plugin;
    if (!plugin) throw new Error('h1 has no plugin');
    await plugin.kill();
    t.notOk(plugin.running(), `ovsvlan on h1 killed with SIGKILL ${burstDone ? 'after' : 'during'} the burst (${atKill} endpoint ports of ${BURST} made)`);
    await sleep(1_000);
    await h1.startClusterPlugin();
  }
  const results = await burst;
  const ok = results.filter((r) => r.exitCode === 0).length;
  t.comment(`burst: ${ok} of ${BURST} docker run succeeded, ${BURST - ok} failed`);

  // settled: etcd's keys of h1 are the addresses of h1's running containers with their port, and no more
  let last = { keys: [] as string[], obs: undefined as Observed | undefined };
  const agree = async (): Promise<boolean> => {
    const obs = await observe(h1);
    const keys = await keysOf(c, 'h1');
    last = { keys, obs };
    const withPort = [...obs.addresses].filter(([n, a]) => a !== '' && obs.portTags.get(n) === VLAN).map(([, a]) => a).sort();
    return obs.strayPorts.length === 0 && withPort.length === obs.addresses.size && JSON.stringify(withPort) === JSON.stringify(keys);
  };
  const settleStart = Date.now();
  const settled = await waitFor('etcd and h1 to agree', agree, 120_000).catch(() => false);
  t.comment(`settled ${Date.now() - settleStart} ms after the burst ended`);
  const obs = last.obs;
  t.ok(settled, 'etcd and h1 agree after the restart');
  if (!obs) throw new Error('nothing observed');
  t.ok(obs.addresses.size > 0, `${obs.addresses.size} containers of the burst run on h1`);
  const noAddress = [...obs.addresses].filter(([, a]) => a === '').map(([n]) => n);
  t.same(noAddress, [], 'every running container has an address');
  const noPort = [...obs.portTags].filter(([, tag]) => tag !== VLAN).map(([n, tag]) => `${n}: ${tag ?? 'no port'}`);
  t.same(noPort, [], `every running container has its port, tagged ${VLAN}`);
  t.same(obs.strayPorts, [], 'no endpoint port without its container');
  const addrs = [...obs.addresses.values()].filter(Boolean).sort();
  t.same(last.keys.filter((k) => !addrs.includes(k)), [], 'no address key of h1 without a container');
  t.same(addrs.filter((a) => !last.keys.includes(a)), [], 'no container of h1 without its address key');
  t.same(await keysOf(c, 'h2'), h2Keys, 'h2\'s keys are untouched');

  // after all that, a new container on h1 gets an address nobody holds
  const taken = new Set((await addressKeys(c, IDENT)).map((k) => k.address));
  await h1.dockerOk(['run', '-d', '--name', 'h1after', '--net', NET, 'busybox:local', 'sleep', '3600']);
  const fresh = await h1.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, 'h1after']);
  t.notOk(taken.has(fresh), `a new container gets a free address (${fresh})`);
  t.equal((await addressKeys(c, IDENT)).find((k) => k.address === fresh)?.holder, 'h1', 'held by h1 in etcd');
  t.comment(`test ran ${Math.round((Date.now() - started) / 1000)} s`);
});
