// Issue 11, must-show 1 and 2: one VLAN network on three hosts of a cluster (etcd in the hub,
// each host's uplink on a trunk port of one "physical switch"), addresses allocated cluster-wide.
//  1. The three hosts create the same network at the same moment (same subnet, no --ip-range) and
//     start 20 containers each at the same moment (60 concurrent `docker run`): 60 distinct
//     addresses, each one's key in etcd held by the container's host; containers on different
//     hosts ping each other across the switch; a fourth `docker network create` for the same VLAN
//     with another subnet is refused naming both subnets, and leaves no network, port, record or key.
//  2. `--ip` of an address a container on h2 holds, run on h1, fails naming h2; h2's container
//     keeps its address and its traffic.
//  3. `docker network create` of a cluster network without --ipam-driver ovsvlan (Docker's default
//     IPAM would hand out the same addresses on every host) fails naming --ipam-driver ovsvlan, and
//     leaves no network, port, record or key.
import t from 'tap';
import { createCluster, type ClusterHost } from '../helpers/cluster.js';
import { addressKeys, etcdGet } from '../helpers/cluster-observe.js';
import { ownedPorts, ping } from '../helpers/traffic.js';

const VLAN = 860;
const SUBNET = '10.86.0.0/24';
const OTHER_SUBNET = '10.86.64.0/24';
const PER_HOST = 20;
const NET = 'shared860';

/** `docker run -d` of a sleeping busybox on NET; never throws. */
const runC = (h: ClusterHost, name: string, extra: readonly string[] = []): ReturnType<ClusterHost['docker']> =>
  h.docker(['run', '-d', '--name', name, '--net', NET, ...extra, 'busybox:local', 'sleep', '3600'], { timeout: 600_000 });

/** name → address on NET of `names` on `h`, from one `docker inspect`. */
async function addressesOf(h: ClusterHost, names: readonly string[]): Promise<Map<string, string>> {
  const out = await h.dockerOk(['inspect', '-f', `{{.Name}} {{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, ...names]);
  return new Map(out.split('\n').map((l) => l.trim().replace(/^\//, '').split(' ') as [string, string]));
}

/** Everything a refused create could have left on `h`: networks, ports of ours (spares too), recorded networks. */
async function footprint(h: ClusterHost): Promise<string> {
  const nets = (await h.dockerOk(['network', 'ls', '--format', '{{.Name}}'])).split('\n').sort();
  const ports = (await ownedPorts(h, { spares: true })).map((p) => `${p.name}:${p.tag ?? ''}`).sort();
  const recorded = Object.keys((await h.plugin?.readState())?.networks ?? {}).sort();
  return JSON.stringify({ nets, ports, recorded });
}

t.test('one VLAN network on three hosts, addresses allocated through etcd', async (t) => {
  const started = Date.now();
  const c = await createCluster(t, { hosts: 3, trunk: true, trunks: [VLAN] });
  const trunk = c.trunk;
  if (!trunk) throw new Error('no trunk switch');
  const [h1, h2, h3] = c.hosts as [ClusterHost, ClusterHost, ClusterHost];
  const createArgs = (subnet: string, name: string): string[] => ['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan',
    '--opt', `vlan=${VLAN}`, '--opt', `uplink=${trunk.uplink}`, '--subnet', subnet, name];
  t.comment(`cluster built in ${Date.now() - started} ms`);

  await t.test('1. three hosts, one network, 60 concurrent docker run: 60 distinct addresses, traffic across the switch', async (t) => {
    const created = await Promise.all(c.hosts.map((h) => h.docker(createArgs(SUBNET, NET))));
    for (const [i, r] of created.entries()) t.equal(r.exitCode, 0, `h${i + 1}: network create at the same moment as the others: ${r.stderr}`);
    const def = await etcdGet(c, `${c.prefix}/v1/networks/`);
    t.equal(def.size, 1, `one definition in etcd: ${[...def.keys()].join(' ')}`);
    const hostsOfDef = (JSON.parse([...def.values()][0] ?? '{}') as { hosts?: string[] }).hosts;
    t.same(hostsOfDef, ['h1', 'h2', 'h3'], 'the definition lists the three hosts');

    const names = (h: ClusterHost): string[] => Array.from({ length: PER_HOST }, (_, i) => `${h.hostId}c${i}`);
    const burstStart = Date.now();
    const runs = await Promise.all(c.hosts.flatMap((h) => names(h).map(async (n) => ({ n, r: await runC(h, n) }))));
    t.comment(`60 concurrent docker run in ${Date.now() - burstStart} ms`);
    const failed = runs.filter(({ r }) => r.exitCode !== 0);
    t.same(failed.map(({ n, r }) => `${n}: ${r.stderr}`), [], 'all 60 docker run succeed');

    const byHost = new Map<string, Map<string, string>>();
    for (const h of c.hosts) byHost.set(h.hostId, await addressesOf(h, names(h)));
    const all = [...byHost.values()].flatMap((m) => [...m.values()]);
    t.equal(all.length, 3 * PER_HOST, '60 containers with an address');
    t.equal(new Set(all).size, 3 * PER_HOST, `60 distinct addresses: ${all.join(' ')}`);
    t.ok(all.every((a) => a.startsWith('10.86.0.') && a !== '10.86.0.1'), 'all in the subnet, none the gateway');

    const keys = await addressKeys(c, `vlan.${VLAN}`);
    const holderOf = new Map(keys.map((k) => [k.address, k.holder]));
    const wrong = [...byHost].flatMap(([host, m]) => [...m.values()].filter((a) => holderOf.get(a) !== host).map((a) => `${a}: ${holderOf.get(a)} not ${host}`));
    t.same(wrong, [], 'each address\'s key in etcd names the host of its container');
    t.equal(keys.length, 3 * PER_HOST, 'and etcd holds no other address of the network');

    // a sample of pairs, each way: h1 <-> h2, h2 <-> h3, h3 <-> h1
    const addr = (h: ClusterHost, i: number): string => byHost.get(h.hostId)?.get(`${h.hostId}c${i}`) ?? '?';
    for (const [a, b, i] of [[h1, h2, 0], [h2, h3, 1], [h3, h1, 2]] as const) {
      t.ok(await ping(a, `${a.hostId}c${i}`, addr(b, i)), `${a.hostId}c${i} -> ${b.hostId}c${i} (${addr(b, i)}) across the switch`);
      t.ok(await ping(b, `${b.hostId}c${i + 3}`, addr(a, i + 3)), `${b.hostId}c${i + 3} -> ${a.hostId}c${i + 3} (${addr(a, i + 3)})`);
    }

    // the fourth create: the same VLAN with another subnet, another name, on h1
    const before = await footprint(h1);
    const keysBefore = await etcdGet(c, c.prefix);
    const refused = await h1.docker(createArgs(OTHER_SUBNET, 'other860'));
    t.not(refused.exitCode, 0, 'a fourth network create with another subnet for the same VLAN is refused');
    t.match(refused.stderr, /subnet/i, `the error names the subnet: ${refused.stderr}`);
    t.match(refused.stderr, SUBNET, 'and the subnet the cluster has');
    t.match(refused.stderr, OTHER_SUBNET, 'and the one asked for');
    t.equal(await footprint(h1), before, 'no network, port or record is left on h1');
    t.same([...(await etcdGet(c, c.prefix)).keys()].filter((k) => !k.includes('/hosts/')).sort(),
      [...keysBefore.keys()].filter((k) => !k.includes('/hosts/')).sort(), 'no key added or removed in etcd');
  });

  await t.test('2. --ip of an address a container on h2 holds fails on h1, naming h2', async (t) => {
    const held = (await addressesOf(h2, ['h2c5'])).get('h2c5') ?? '?';
    const portsBefore = (await ownedPorts(h1)).length;
    const r = await runC(h1, 'h1dup', ['--ip', held]);
    t.not(r.exitCode, 0, `docker run --ip ${held} on h1 fails`);
    t.match(r.stderr, held, `the error names the address: ${r.stderr}`);
    t.match(r.stderr, /\bh2\b/, 'and the host holding it');
    t.equal((await h1.docker(['inspect', '-f', '{{.State.Running}}', 'h1dup'])).stdout, 'false', 'the container did not start');
    t.equal((await ownedPorts(h1)).length, portsBefore, 'no endpoint port was left on h1');
    const holder = (await addressKeys(c, `vlan.${VLAN}`)).find((k) => k.address === held)?.holder;
    t.equal(holder, 'h2', `${held} is still h2's in etcd`);
    t.equal((await addressesOf(h2, ['h2c5'])).get('h2c5'), held, 'h2c5 keeps its address');
    t.ok(await ping(h1, 'h1c5', held), `h1c5 still reaches h2c5 at ${held}`);
  });

  await t.test('3. a cluster network without --ipam-driver ovsvlan is refused, nothing left', async (t) => {
    const before = await footprint(h1);
    const keysBefore = await etcdGet(c, c.prefix);
    const r = await h1.docker(['network', 'create', '-d', 'ovsvlan', '--opt', `vlan=${VLAN + 1}`, '--opt', `uplink=${trunk.uplink}`,
      '--subnet', '10.86.128.0/24', 'default861']);
    t.not(r.exitCode, 0, 'docker network create with Docker\'s default IPAM fails');
    t.match(r.stderr, /--ipam-driver ovsvlan/, `the error names --ipam-driver ovsvlan: ${r.stderr}`);
    t.match(r.stderr, /same addresses on every host/, 'and why');
    t.equal(await footprint(h1), before, 'no network, port or record is left on h1');
    t.same([...(await etcdGet(c, c.prefix)).keys()].filter((k) => !k.includes('/hosts/')).sort(),
      [...keysBefore.keys()].filter((k) => !k.includes('/hosts/')).sort(), 'no definition or other key written in etcd');
  });
  t.comment(`test ran ${Math.round((Date.now() - started) / 1000)} s`);
});
