// Issue 11, must-show 3: in cluster mode (OVSVLAN_ETCD) a VXLAN network created without remote= on
// three hosts gets a full mesh of tunnel ports (ovs-vsctl: one per other host, remote_ip its
// underlay address, marked with the peer's host id) and containers on all three ping each other; a
// fourth host that joins later gets tunnels to all and they to it, no network re-created; a host
// whose daemon stops for good keeps its tunnels on the others while its record is gone less than
// the grace period, and loses them after it.
import t from 'tap';
import { createCluster, type ClusterHost } from '../helpers/cluster.js';
import { isAlive, joined, meshShape, meshTunnels, networkId } from '../helpers/cluster-observe.js';
import { sleep, waitFor } from '../helpers/run.js';
import { ping } from '../helpers/traffic.js';

const NET = 'cmesh';
const VNI = 6001;
const GRACE_S = 20;
const ip = (i: number): string => `10.81.0.${11 + i}`;
const cname = (i: number): string => `m${i}`;

/** The full mesh as host `self` should see it: every other host's id = its underlay address. */
const fullMesh = (all: readonly ClusterHost[], self: ClusterHost): string =>
  all.filter((h) => h !== self).map((h) => `${h.hostId}=${h.underlayIp}`).sort().join(',');

async function createNet(h: ClusterHost): Promise<void> {
  await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', 'mode=vxlan', '--opt', `vni=${VNI}`, '--subnet', '10.81.0.0/24', NET]);
}

async function runContainer(h: ClusterHost, i: number): Promise<void> {
  await h.dockerOk(['run', '-d', '--name', cname(i), '--net', NET, '--ip', ip(i), 'busybox:local', 'sleep', '3600']);
}

/** Polls until every host in `hosts` has the mesh `want(h)` on NET (tunnel ports are made asynchronously, by the watch). */
async function meshSettles(hosts: readonly ClusterHost[], want: (h: ClusterHost) => string, what: string, ms = 60_000): Promise<void> {
  await waitFor(what, async () => {
    for (const h of hosts) if (meshShape(await meshTunnels(h, NET)) !== want(h)) return false;
    return true;
  }, ms);
}

t.test('cluster mesh: tunnels follow the live hosts', async (t) => {
  const c = await createCluster(t, { hosts: 3, meshGraceSeconds: GRACE_S, spareHosts: 1 });
  const three = [...c.hosts];
  await joined(c, three);

  await t.test('three hosts, no remote=: a full mesh, and containers ping across it', async (t) => {
    for (const h of three) await createNet(h);
    await meshSettles(three, (h) => fullMesh(three, h), 'a full mesh of three');
    for (const h of three) {
      const tunnels = await meshTunnels(h, NET);
      t.equal(tunnels.length, 2, `${h.hostId}: two tunnel ports`);
      t.equal(meshShape(tunnels), fullMesh(three, h), `${h.hostId}: one to each other host's underlay address`);
      for (const tn of tunnels) {
        t.equal(tn.type, 'vxlan', `${h.hostId}: ${tn.port} is a vxlan port`);
        t.equal(tn.key, String(VNI), `${h.hostId}: ${tn.port} carries VNI ${VNI}`);
      }
    }
    for (const [i, h] of three.entries()) await runContainer(h, i);
    for (const [i, h] of three.entries()) {
      for (const j of [0, 1, 2].filter((j) => j !== i)) t.ok(await ping(h, cname(i), ip(j)), `${h.hostId} -> ${three[j]?.hostId}`);
    }
  });

  await t.test('a fourth host joins: tunnels to all and from all, no network re-created', async (t) => {
    const ids = await Promise.all(three.map((h) => networkId(h, NET)));
    const h4 = await c.addHost();
    const four = [...three, h4];
    t.equal(h4.hostId, 'h4', 'the new host is h4');
    await joined(c, [h4]);
    await createNet(h4);
    await meshSettles(four, (h) => fullMesh(four, h), 'a full mesh of four');
    for (const h of four) {
      const tunnels = await meshTunnels(h, NET);
      t.equal(tunnels.length, 3, `${h.hostId}: three tunnel ports`);
      t.equal(meshShape(tunnels), fullMesh(four, h), `${h.hostId}: to every other host`);
    }
    t.same(await Promise.all(three.map((h) => networkId(h, NET))), ids, 'h1-h3 kept their networks (same Docker IDs)');
    await runContainer(h4, 3);
    for (let j = 0; j < 3; j++) {
      t.ok(await ping(h4, cname(3), ip(j)), `h4 -> ${three[j]?.hostId}`);
      t.ok(await ping(three[j]!, cname(j), ip(3)), `${three[j]?.hostId} -> h4`);
    }
    // h4's container goes while its daemon still answers: the daemon below stops for good
    await h4.dockerOk(['rm', '-f', cname(3)]);
  });

  await t.test('a host whose daemon stops for good loses its tunnels after the grace period', async (t) => {
    const h4 = c.hosts[3];
    if (!h4) throw new Error(`no fourth host (${c.hosts.length} hosts)`);
    const four = [...three, h4];
    const stoppedAt = Date.now();
    await h4.plugin?.stop();
    // its record expires with its lease (15 s TTL); the grace counts from then
    await waitFor('h4\'s liveness record to expire', async () => !(await isAlive(c, 'h4')), 60_000);
    const expiredAfter = Date.now() - stoppedAt;
    // half-way through the grace (its record went at most a poll before we saw it go): a mesh without a grace has dropped the tunnels by now
    await sleep((GRACE_S * 1000) / 2);
    for (const h of three) {
      t.equal(meshShape(await meshTunnels(h, NET)), fullMesh(four, h), `${h.hostId}: still a tunnel to h4 during the grace (${Date.now() - stoppedAt} ms after the stop)`);
    }
    await meshSettles(three, (h) => fullMesh(three, h), 'h4\'s tunnels to go', 120_000);
    t.comment(`h4's record expired ${expiredAfter} ms after the stop; its tunnels were gone ${Date.now() - stoppedAt} ms after (grace ${GRACE_S} s)`);
    for (const h of three) t.equal((await meshTunnels(h, NET)).length, 2, `${h.hostId}: two tunnel ports again`);
    for (const [i, h] of three.entries()) t.ok(await ping(h, cname(i), ip((i + 1) % 3)), `${h.hostId} -> ${three[(i + 1) % 3]?.hostId} still`);
    // back, so that the teardown's network rm on h4 finds its plugin
    await h4.startClusterPlugin();
  });
});
