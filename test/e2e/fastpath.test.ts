// Issue 10, "must show" 2: the port a container gets from the fast path (a spare made
// ahead, handed out at CreateEndpoint) is right, through a real dockerd on a netdev bridge:
// the container's eth0 has the network's MTU and tx checksumming off, its host end is a port
// on the network's bridge with the VLAN's tag and the endpoint's marks, and it carries an ARP
// request and TCP from the first attempt after the container's process starts; another VLAN
// in the same subnet cannot reach it. Spares sit on the bridge with their network's tag,
// never untagged, as many as OVSVLAN_SPARES, and `ovsvlan status` counts them as neither
// endpoints nor drift. Then OVS restarted with an empty database: every endpoint's port and
// the spares come back, nothing twice, nothing stale, and traffic works. Last, `docker rm`
// and `network rm` leave no port, veth or bridge behind.
import t, { type Test } from 'tap';
import { createHost, type Host, type HostPlugin } from '../helpers/host.js';
import { ovsvlanCli } from '../helpers/cli.js';
import { fastpathProblems, observe, settle, spareCounts, SPARES_SETTING, type FastpathView } from '../helpers/fastpath.js';
import { endpointId, ping, pingFails } from '../helpers/traffic.js';
import type { StatusReport } from '../../src/cli/report.js';

const SPARES = 3;
const SUBNET = '10.13.210';
const PAGE = 'fastpath-ok';

interface Net {
  name: string;
  vlan: number;
  id: string;
}

/** All rules of helpers/fastpath.ts, and each network holding exactly SPARES spares. */
function problems(v: FastpathView, nets: readonly Net[]): string[] {
  const counts = spareCounts(v);
  const sizes = nets.flatMap((n) => (counts.get(n.id) ?? 0) === SPARES ? [] : [`network ${n.name} has ${counts.get(n.id) ?? 0} spares, not ${SPARES}`]);
  return [...fastpathProblems(v, { containerEndsHere: false }), ...sizes];
}

/** Shell: one HTTP GET of `ip`'s page over one TCP connection (busybox nc: its wget crashes here), the page's last line. */
const get = (ip: string): string => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 10 ${ip} 80 | tail -n 1`;

/**
 * A container on `net` whose first acts are one ARP request to `ip` and one GET; the page's
 * last line, or what failed.
 */
async function firstContact(host: Host, net: string, ip: string): Promise<{ exitCode: number; out: string }> {
  const r = await host.docker(['run', '--rm', '--net', net, 'busybox:local', 'sh', '-c',
    `arping -c 1 -w 3 -I eth0 ${ip} >/dev/null || { echo "no ARP answer"; exit 1; }; ${get(ip)}`]);
  return { exitCode: r.exitCode, out: r.stdout || r.stderr };
}

async function checkSparesAndRules(t: Test, host: Host, plugin: HostPlugin, nets: readonly Net[], when: string): Promise<FastpathView> {
  const s = await settle(() => observe(host.ovs, host.ns.name, plugin.stateDir), (v) => problems(v, nets));
  t.same(s.problems, [], `${when}: every endpoint on its own port, ${SPARES} tagged spares per network, no orphan`);
  t.same(s.ever, [], `${when}: no spare was ever seen untagged or on another VLAN`);
  for (const n of nets) {
    const spares = s.view.ports.filter((p) => p.role === 'spare' && p.networkId === n.id);
    t.ok(spares.length > 0 && spares.every((p) => p.tag === n.vlan), `${when}: ${n.name}'s spares carry tag ${n.vlan} (${spares.length})`);
  }
  return s.view;
}

t.test('the fast path through docker: right port, at once, and OVS restarted empty', async (t) => {
  const host = await createHost('fp', t);
  const plugin = await host.startPlugin({ env: { [SPARES_SETTING]: String(SPARES) } });
  const nets: Net[] = [];
  for (const vlan of [910, 911]) {
    const name = `f${vlan}`;
    // both on one subnet (one address space per VLAN): only the tag keeps them apart
    await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', `vlan=${vlan}`, '--opt', 'mtu=1400',
      '--subnet', `${SUBNET}.0/24`, name]);
    nets.push({ name, vlan, id: await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', name]) });
  }
  const [n910, n911] = nets as [Net, Net];
  // a full pool before the first container: its port is a spare
  await checkSparesAndRules(t, host, plugin, nets, 'after network create');
  await host.dockerOk(['run', '-d', '--name', 'srv', '--net', n910.name, '--ip', `${SUBNET}.10`, 'busybox:local', 'sh', '-c',
    `mkdir /www && echo ${PAGE} > /www/index.html && exec httpd -f -p 80 -h /www`]);
  await host.dockerOk(['run', '-d', '--name', 'oth', '--net', n911.name, '--ip', `${SUBNET}.20`, 'busybox:local', 'sleep', '3600']);
  await host.dockerOk(['run', '-d', '--name', 'oth2', '--net', n911.name, '--ip', `${SUBNET}.21`, 'busybox:local', 'sleep', '3600']);

  await t.test('the container end: MTU 1400, tx checksumming off', async (t) => {
    t.equal(await host.dockerOk(['exec', 'srv', 'cat', '/sys/class/net/eth0/mtu']), '1400', 'eth0 MTU 1400 inside the container');
    const pid = await host.dockerOk(['inspect', '-f', '{{.State.Pid}}', 'srv']);
    const features = await host.ns.execOk('nsenter', [`--net=/proc/${pid}/ns/net`, 'ethtool', '-k', 'eth0']);
    t.match(features, /^tx-checksumming: off/m, 'tx checksumming off on eth0 (netdev bridge)');
  });

  await t.test('the host end: a port on the bridge, the VLAN tag, the endpoint marks, MTU 1400', async (t) => {
    const ep = await endpointId(host, 'srv', n910.name);
    const view = await observe(host.ovs, host.ns.name, plugin.stateDir);
    const port = view.ports.find((p) => p.endpointId === ep);
    t.ok(port, 'a port carries srv\'s endpoint ID');
    t.match(port, { bridge: plugin.bridge, tag: 910, role: 'endpoint', networkId: n910.id }, 'on the bridge, tag 910, role endpoint, its network');
    t.equal(view.state.endpoints[ep]?.['hostIf'], port?.name, 'the record names that port');
    t.match(await host.ns.ip(['link', 'show', 'dev', port?.name ?? '?']), /mtu 1400 /, 'host end MTU 1400');
  });

  await t.test('a new container talks at once (first ARP request, first TCP connection)', async (t) => {
    const local = await host.dockerOk(['exec', 'srv', 'sh', '-c', get('127.0.0.1')]);
    t.equal(local, PAGE, 'control: srv serves the page');
    for (let i = 1; i <= 3; i++) {
      const r = await firstContact(host, n910.name, `${SUBNET}.10`);
      t.same(r, { exitCode: 0, out: PAGE }, `container ${i} on 910: ARP answered and the page fetched at the first attempt`);
    }
    t.ok(await ping(host, 'oth', `${SUBNET}.21`), 'control: oth reaches oth2 on 911');
    t.ok(await pingFails(host, 'oth', `${SUBNET}.10`), 'oth (911) cannot reach srv (910) in the same subnet');
    const across = await firstContact(host, n911.name, `${SUBNET}.10`);
    t.not(across.exitCode, 0, `a new container on 911 gets no answer from srv (${across.out})`);
  });

  await t.test('spares: tagged, as many as configured; status counts them as neither endpoints nor drift', async (t) => {
    await checkSparesAndRules(t, host, plugin, nets, 'after the containers');
    const r = await ovsvlanCli(host, ['status', '--json']);
    const report = JSON.parse(r.stdout) as StatusReport;
    t.equal(r.exitCode, 0, 'status exits 0');
    t.same(report.drift, [], 'no drift');
    t.same(report.endpoints.map((e) => e.container).sort(), ['oth', 'oth2', 'srv'], 'three endpoints: the running containers');
    t.same(report.networks.map((n) => n.endpoints).sort(), [1, 2], 'one endpoint on 910, two on 911');
    t.same(report.networks.map((n) => n.spares), nets.map(() => SPARES), `${SPARES} spares shown per network`);
  });

  await t.test('OVS restarted with an empty database: the endpoints\' ports and the spares come back, once', async (t) => {
    const before = await observe(host.ovs, host.ns.name, plugin.stateDir);
    const endpoints = Object.keys(before.state.endpoints).sort();
    await host.ovs.stop();
    await host.ovs.start({ wipe: true });
    const view = await checkSparesAndRules(t, host, plugin, nets, 'after the restart');
    const mine = view.ports.filter((p) => p.role === 'endpoint');
    t.same(mine.map((p) => p.endpointId).sort(), endpoints, 'one port per endpoint, the same endpoints as before');
    t.same(new Set(view.ports.map((p) => p.role)), new Set(['endpoint', 'spare']), 'no other port of ours');
    t.equal(view.ports.length, endpoints.length + SPARES * nets.length, 'endpoints + spares, nothing twice');
    t.ok(await ping(host, 'oth', `${SUBNET}.21`), 'oth reaches oth2 on 911');
    t.ok(await pingFails(host, 'oth', `${SUBNET}.10`), 'oth still cannot reach srv');
    t.same(await firstContact(host, n910.name, `${SUBNET}.10`), { exitCode: 0, out: PAGE }, 'a new container on 910 fetches the page at once');
  });

  await t.test('docker rm and network rm leave no port, veth or bridge', async (t) => {
    await host.dockerOk(['rm', '-f', 'srv', 'oth', 'oth2']);
    await host.dockerOk(['network', 'rm', n910.name, n911.name]);
    const gone = (v: FastpathView): string[] => [...v.ports.map((p) => `port ${p.name}`), ...v.links.map((l) => `veth ${l.name}`)];
    const s = await settle(() => observe(host.ovs, host.ns.name, plugin.stateDir), gone);
    t.same(s.problems, [], 'nothing of ours left in OVS or the kernel');
    t.notMatch(await host.ovs.vsctl(['list-br']), plugin.bridge, 'the bridge is gone with its last network');
  });
});
