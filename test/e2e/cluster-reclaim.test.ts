// Issue 11, must-show 5: a host lost for good. `ovsvlan ipam reclaim --host h3` is refused while
// h3's daemon runs; once it is killed and its liveness record has expired, the reclaim frees h3's
// address keys and fences h3; another host takes one of those addresses with --ip. When h3's daemon
// starts again with its old containers still running, that address is reported as a conflict by
// `ovsvlan status` (text and --json), not taken back (the key still names h1, whose container keeps
// its traffic), and h3's other addresses are h3's again in etcd.
import t from 'tap';
import { createCluster, type ClusterHost, type TestCluster } from '../helpers/cluster.js';
import { addressKeys, containerIp, etcdGet, isAlive, joined, meshTunnels } from '../helpers/cluster-observe.js';
import { Keys } from '../../src/cluster/keys.js';
import { waitFor } from '../helpers/run.js';
import { ping } from '../helpers/traffic.js';

const NET = 'creclaim';
const VNI = 6003;
const IDENT = `vxlan.${VNI}`;
const H3_CONTAINERS = ['c30', 'c31', 'c32'] as const;

const run = (h: ClusterHost, name: string, extra: readonly string[] = []): Promise<string> =>
  h.dockerOk(['run', '-d', '--name', name, '--net', NET, ...extra, 'busybox:local', 'sleep', '3600']);

/** True when `value` holds `address` somewhere below a key whose name speaks of a conflict. */
function conflictIn(value: unknown, address: string, underConflict = false): boolean {
  if (typeof value === 'string') return underConflict && value === address;
  if (Array.isArray(value)) return value.some((v) => conflictIn(v, address, underConflict));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => conflictIn(v, address, underConflict || /conflict/i.test(k)));
  }
  return false;
}

/** The addresses of NET whose key names `host`, sorted. */
const heldBy = async (c: TestCluster, host: string): Promise<string[]> =>
  (await addressKeys(c, IDENT)).filter((k) => k.holder === host).map((k) => k.address).sort();
/** The hosts named by `address`'s key (one, or none). */
const holdersOf = async (c: TestCluster, address: string): Promise<string[]> =>
  (await addressKeys(c, IDENT)).filter((k) => k.address === address).map((k) => k.holder);

t.test('ipam reclaim of a lost host, and its return', async (t) => {
  const c = await createCluster(t, { hosts: 3, meshGraceSeconds: 10 });
  const [h1, h2, h3] = c.hosts as [ClusterHost, ClusterHost, ClusterHost];
  await joined(c, c.hosts);
  for (const h of [h1, h2, h3]) {
    await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'mode=vxlan', '--opt', `vni=${VNI}`,
      '--ipam-driver', 'ovsvlan', '--subnet', '10.83.0.0/24', '--gateway', '10.83.0.1', NET]);
  }
  await waitFor('a full mesh of three', async () => {
    for (const h of [h1, h2, h3]) if ((await meshTunnels(h, NET)).length !== 2) return false;
    return true;
  }, 60_000);
  await run(h1, 'c1');
  await run(h2, 'c2');
  for (const n of H3_CONTAINERS) await run(h3, n);
  const h3Ips = await Promise.all(H3_CONTAINERS.map((n) => containerIp(h3, n, NET)));
  const [ip30, ip31, ip32] = h3Ips as [string, string, string];
  const ip2 = await containerIp(h2, 'c2', NET);
  t.same(await heldBy(c, 'h3'), [...h3Ips].sort(), `h3 holds its three containers' addresses (${h3Ips.join(', ')})`);

  await t.test('refused while h3\'s daemon runs', async (t) => {
    const r = await h1.ovsvlan(['ipam', 'reclaim', '--host', 'h3']);
    t.not(r.exitCode, 0, 'ipam reclaim --host h3 fails');
    t.match(`${r.stdout}\n${r.stderr}`, /alive/i, `it says h3 is alive: ${r.stderr || r.stdout}`);
    t.same(await heldBy(c, 'h3'), [...h3Ips].sort(), 'h3 keeps its addresses');
  });

  await t.test('h3 killed for good: reclaim frees its addresses and fences it', async (t) => {
    const killedAt = Date.now();
    await h3.plugin?.kill();
    await waitFor('h3\'s liveness record to expire', async () => !(await isAlive(c, 'h3')), 60_000);
    t.comment(`h3's record expired ${Date.now() - killedAt} ms after kill -9`);
    const r = await h1.ovsvlan(['ipam', 'reclaim', '--host', 'h3']);
    t.comment(`ipam reclaim: ${r.stdout}`);
    t.equal(r.exitCode, 0, `ipam reclaim --host h3 succeeds: ${r.stderr}`);
    for (const a of h3Ips) t.match(r.stdout, a, `it names ${a} as freed`);
    t.same(await heldBy(c, 'h3'), [], 'no address key names h3 any more');
    t.ok((await etcdGet(c, new Keys(c.prefix).fence('h3'))).size > 0, 'h3 is fenced');

    await run(h1, 't1', ['--ip', ip31]);
    t.equal(await containerIp(h1, 't1', NET), ip31, `h1 took ${ip31}`);
    t.same(await holdersOf(c, ip31), ['h1'], `${ip31}'s key names h1`);
    t.ok(await ping(h1, 't1', ip2), `h1/t1 (${ip31}) -> h2/c2`);
  });

  await t.test('h3 back with its old containers: the taken address is a conflict, the others are h3\'s again', async (t) => {
    await h3.startClusterPlugin();
    await waitFor('h3\'s other addresses to be restored', async () => {
      const held = await heldBy(c, 'h3');
      return held.includes(ip30) && held.includes(ip32);
    }, 90_000);
    t.same(await heldBy(c, 'h3'), [ip30, ip32].sort(), `h3 holds ${ip30} and ${ip32} again, not ${ip31}`);

    // h3's own status: its ENDPOINTS table lists c31's address too, so the conflict must be on a line of its own
    const conflictLine = (out: string): string | undefined => out.split('\n').find((l) => l.includes(ip31) && /conflict/i.test(l));
    let last = '';
    const line = await waitFor('h3\'s ovsvlan status to report the conflict', async () => {
      last = (await h3.ovsvlan(['status'])).stdout;
      return conflictLine(last);
    }, 90_000).catch(() => undefined);
    t.ok(line, `h3's status reports ${ip31} as a conflict: ${line?.trim() ?? `no such line in:\n${last}`}`);
    // polled too: a status whose etcd read failed (it prints `unreadable` and exits 2) has no cluster section
    let lastJson: { cluster?: unknown; unreadable?: unknown } = {};
    const inJson = await waitFor('h3\'s ovsvlan status --json to list the conflict', async () => {
      lastJson = JSON.parse((await h3.ovsvlan(['status', '--json'])).stdout) as typeof lastJson;
      if (lastJson.cluster === undefined) t.comment(`status --json without its cluster section: ${JSON.stringify(lastJson.unreadable)}`);
      return conflictIn(lastJson, ip31);
    }, 90_000).catch(() => false);
    t.ok(inJson, `status --json lists ${ip31} under a conflict: ${JSON.stringify(lastJson.cluster ?? lastJson.unreadable)}`);

    t.same(await holdersOf(c, ip31), ['h1'], `${ip31} still names h1`);
    t.equal(await containerIp(h1, 't1', NET), ip31, 'h1/t1 keeps its address');
    t.ok(await ping(h1, 't1', ip2), 'h1/t1 -> h2/c2 still');
    await waitFor('h1 and h2 to tunnel to h3 again', async () =>
      (await meshTunnels(h1, NET)).length === 2 && (await meshTunnels(h2, NET)).length === 2, 60_000);
    t.ok(await ping(h3, 'c30', ip2), 'h3/c30 -> h2/c2: h3 is back in the mesh');
  });
});
