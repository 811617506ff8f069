// Issue 4, overlays: two simulated hosts (netns + own OVS + own dockerd + ovsvlan) joined by
// a 1500-byte veth underlay through br-phy, and a bridge playing the physical switch.
//  1. VXLAN and GRE networks created with `docker network create` carry ping and 4 MB of TCP
//     across hosts with no MTU tuning: eth0 gets 1450 / 1458 from the underlay route.
//  2. Two overlays (VNI 5101, 5102) and a trunked VLAN network share one subnet on both hosts,
//     and no traffic crosses between them; a VNI control shows the check can fail.
//  plus: conflicting or missing overlay options fail `docker network create` naming the option,
//  and an overlay leaves nothing behind once removed.
import t from 'tap';
import { createHost, type Host } from '../helpers/host.js';
import { overlayBridgeName } from '../../src/names.js';
import { linkNames } from '../helpers/netns.js';
import { createSwitch, createUnderlay, linkInfo, startCapture, tcpAcross, vlanTags, type Underlay } from '../helpers/multihost.js';
import { RUN_PREFIX, sleep } from '../helpers/run.js';
import { endpointId, ownedPorts, ping, pingFails, type OvsPort } from '../helpers/traffic.js';

const MB4 = 4 * 1024 * 1024;

const netId = (h: Host, net: string): Promise<string> => h.dockerOk(['network', 'inspect', '-f', '{{.Id}}', net]);
const runC = (h: Host, name: string, net: string, ip: string): Promise<string> =>
  h.dockerOk(['run', '-d', '--name', name, '--net', net, '--ip', ip, 'busybox:local', 'sleep', '3600']);
/** The other hosts' VTEPs, as `--opt remote=` of host i. */
const remotesOf = (ul: Underlay, i: number): string => ul.ips.filter((_, j) => j !== i).join(',');
const unquote = (s: string): string => s.replace(/^"|"$/g, '');

/** Tunnel ports of a network, as an outside observer sees them. */
async function tunnels(h: Host, id: string): Promise<OvsPort[]> {
  return (await ownedPorts(h)).filter((p) => p.externalIds['ovsvlan-role'] === 'tunnel' && p.externalIds['ovsvlan-network'] === id);
}

t.test('overlays between two simulated hosts', async (t) => {
  const a = await createHost('a', t);
  const b = await createHost('b', t);
  const hosts = [a, b] as const;
  const t0 = Date.now();
  const ul = await createUnderlay(hosts, { t, mtu: 1500 });
  const sw = await createSwitch(hosts, { t });
  t.comment(`underlay + switch: ${Date.now() - t0} ms`);
  for (const h of hosts) await h.startPlugin();

  for (const [mode, keyOpt, key, mtu, subnet] of [['vxlan', 'vni', 5001, 1450, '10.51.0'], ['gre', 'key', 42, 1458, '10.52.0']] as const) {
    await t.test(`1. ${mode}: ping and 4 MB TCP across hosts over a 1500-byte underlay, eth0 MTU ${mtu}`, async (t) => {
      t.teardown(async () => { for (const h of hosts) await h.dockerd.clean(); });
      const net = `o${mode}`;
      for (const [i, h] of hosts.entries()) {
        const r = await h.docker(['network', 'create', '-d', 'ovsvlan', '--opt', `mode=${mode}`, '--opt', `${keyOpt}=${key}`,
          '--opt', `remote=${remotesOf(ul, i)}`, '--subnet', `${subnet}.0/24`, net]);
        t.equal(r.exitCode, 0, `${h.name}: network create: ${r.stderr}`);
      }
      for (const [i, h] of hosts.entries()) {
        const id = await netId(h, net);
        const bridge = overlayBridgeName(id);
        t.ok((await h.ovs.vsctl(['list-br'])).split('\n').includes(bridge), `${h.name}: overlay bridge ${bridge}`);
        t.equal(unquote(await h.ovs.vsctl(['get', 'bridge', bridge, 'datapath_type'])), 'netdev', `${h.name}: netdev datapath`);
        const ports = await tunnels(h, id);
        t.equal(ports.length, 1, `${h.name}: one tunnel port (one remote)`);
        const port = ports[0]?.name ?? '?';
        t.match(port, /^ovt[0-9a-f]{12}$/, `${h.name}: tunnel port name ${port}`);
        t.equal(await h.ovs.vsctl(['port-to-br', port]), bridge, `${h.name}: tunnel on the overlay bridge`);
        t.equal(unquote(await h.ovs.vsctl(['get', 'interface', port, 'type'])), mode, `${h.name}: native ${mode} port`);
        const options = await h.ovs.vsctl(['get', 'interface', port, 'options']);
        t.match(options, new RegExp(`remote_ip="?${ul.ips[1 - i]?.replace(/\./g, '\\.')}"?`), `${h.name}: remote_ip`);
        t.match(options, new RegExp(`key="?${key}"?`), `${h.name}: key ${key}`);
        t.equal(await h.ovs.vsctl(['get', 'port', port, 'protected']), 'true', `${h.name}: protected (split horizon)`);
      }
      await runC(a, 'ca', net, `${subnet}.11`);
      await runC(b, 'cb', net, `${subnet}.12`);
      for (const [h, c] of [[a, 'ca'], [b, 'cb']] as const) {
        t.match(await h.dockerOk(['exec', c, 'ip', 'link', 'show', 'eth0']), new RegExp(`mtu ${mtu} `), `${h.name}/${c}: eth0 MTU ${mtu}`);
        const ep = await endpointId(h, c, net);
        const hostEnd = (await ownedPorts(h)).find((p) => p.externalIds['ovsvlan-endpoint'] === ep)?.name ?? '?';
        t.equal((await linkInfo(h.ns.name, hostEnd))?.mtu, mtu, `${h.name}: host end ${hostEnd} MTU ${mtu} too`);
      }
      const cap = await startCapture(a.ns.name, ul.nic, { count: 6, seconds: 15, filter: mode === 'vxlan' ? ['udp', 'port', '4789'] : ['proto', 'gre'] });
      t.ok(await ping(a, 'ca', `${subnet}.12`), 'A -> B ping');
      t.ok(await ping(b, 'cb', `${subnet}.11`), 'B -> A ping');
      const wire = (await cap.stop()).join('\n');
      t.match(wire, mode === 'vxlan' ? /VXLAN.*vni 5001/ : /GREv0, key=0x0*2a/, `the underlay carries ${mode} with ${keyOpt} ${key}`);
      const full = await a.docker(['exec', 'ca', 'ping', '-c', '2', '-W', '2', '-s', String(mtu - 28), `${subnet}.12`]);
      t.equal(full.exitCode, 0, `a full ${mtu}-byte packet crosses (1500-byte underlay)`);
      const ms = Date.now();
      t.ok(await tcpAcross({ host: b, container: 'cb', ip: `${subnet}.12` }, { host: a, container: 'ca' }, MB4), '4 MB A -> B over TCP, md5 equal');
      t.comment(`${mode}: 4 MB transfer step took ${Date.now() - ms} ms`);

      // --opt mtu overrides the computed value
      await a.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', `mode=${mode}`, '--opt', `${keyOpt}=${key + 1}`,
        '--opt', `remote=${remotesOf(ul, 0)}`, '--opt', 'mtu=1400', '--subnet', `${subnet.replace(/0$/, '1')}.0/24`, `${net}m`]);
      await a.dockerOk(['run', '-d', '--name', 'cm', '--net', `${net}m`, 'busybox:local', 'sleep', '3600']);
      t.match(await a.dockerOk(['exec', 'cm', 'ip', 'link', 'show', 'eth0']), /mtu 1400 /, '--opt mtu=1400 wins');

      // removing the networks removes their bridge and tunnel ports
      for (const h of hosts) {
        const ids = [await netId(h, net), ...(h === a ? [await netId(h, `${net}m`)] : [])];
        await h.dockerOk(['rm', '-f', ...(h === a ? ['ca', 'cm'] : ['cb'])]);
        await h.dockerOk(['network', 'rm', net, ...(h === a ? [`${net}m`] : [])]);
        t.same(await ownedPorts(h), [], `${h.name}: no port of ours left`);
        const brs = (await h.ovs.vsctl(['list-br'])).split('\n');
        t.same(brs.filter((br) => ids.some((id) => br === overlayBridgeName(id))), [], `${h.name}: overlay bridges gone`);
        t.same((await linkNames(h.ns.name)).filter((n) => /^ov[bchti][0-9a-f]{12}$/.test(n)), [], `${h.name}: no ov[bchti]… link left`);
      }
    });
  }

  await t.test('2. two VXLAN overlays and a trunked VLAN network in one subnet: nothing crosses', async (t) => {
    t.teardown(async () => { for (const h of hosts) await h.dockerd.clean(); });
    const subnet = ['--ipam-driver', 'ovsvlan', '--subnet', '10.60.0.0/24', '--gateway', '10.60.0.1'];
    for (const [i, h] of hosts.entries()) {
      for (const [net, vni] of [['ox', 5101], ['oy', 5102]] as const) {
        await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'mode=vxlan', '--opt', `vni=${vni}`, '--opt', `remote=${remotesOf(ul, i)}`, ...subnet, net]);
      }
      await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=860', '--opt', `uplink=${sw.uplink}`, ...subnet, 'vl']);
    }
    // network -> last octet on host A (B: +1); every container in 10.60.0.0/24
    const nets = { ox: 11, oy: 21, vl: 31 } as const;
    for (const [net, n] of Object.entries(nets)) {
      await runC(a, `a${net}`, net, `10.60.0.${n}`);
      await runC(b, `b${net}`, net, `10.60.0.${n + 1}`);
    }
    const cap = await sw.capture(a, { count: 500, seconds: 60 });
    for (const [net, n] of Object.entries(nets)) t.ok(await ping(a, `a${net}`, `10.60.0.${n + 1}`), `${net}: A -> B answers`);
    const pairs: Array<[Host, string, string, string]> = [];
    for (const from of Object.keys(nets)) {
      for (const [to, m] of Object.entries(nets)) {
        if (from === to) continue;
        pairs.push([a, `a${from}`, `10.60.0.${m + 1}`, `A/${from} -> B/${to}`], [a, `a${from}`, `10.60.0.${m}`, `A/${from} -> A/${to}`]);
        pairs.push([b, `b${from}`, `10.60.0.${m}`, `B/${from} -> A/${to}`]);
      }
    }
    const results = await Promise.all(pairs.map(async ([h, c, ip]) => pingFails(h, c, ip)));
    for (const [i, [, , , label]] of pairs.entries()) t.ok(results[i], `${label}: no answer`);
    const { tags, untagged } = vlanTags(await cap.stop());
    t.same(untagged, [], 'no untagged frame on the uplink: overlay frames never leave untunnelled');
    t.same([...tags], [860], 'the uplink carries only the VLAN network (tag 860)');

    // control: B's two tunnels swap keys (OVS refuses two tunnel ports with the same key and remote), so A/ox
    // (VNI 5101) now lands on B/oy: the same-subnet address answers, so the checks above can fail
    const swapKeys = async (oxKey: number, oyKey: number): Promise<void> => {
      const [ox, oy] = await Promise.all(['ox', 'oy'].map(async (n) => (await tunnels(b, await netId(b, n)))[0]?.name ?? '?'));
      await b.ovs.vsctl(['set', 'interface', ox ?? '?', 'options:key=9999']);
      await b.ovs.vsctl(['set', 'interface', oy ?? '?', `options:key=${oyKey}`]);
      await b.ovs.vsctl(['set', 'interface', ox ?? '?', `options:key=${oxKey}`]);
    };
    await swapKeys(5102, 5101);
    t.ok(await ping(a, 'aox', '10.60.0.22'), 'control: with B\'s VNIs swapped, A/ox reaches B/oy');
    await swapKeys(5101, 5102);
    t.ok(await pingFails(a, 'aox', '10.60.0.22'), 'control: VNIs restored, isolated again');
    t.ok(await ping(a, 'aox', '10.60.0.12'), 'control: and A/ox reaches B/ox again');
  });

  await t.test('conflicting or missing overlay options fail and leave nothing', async (t) => {
    const remote = `remote=${ul.ips[1]}`;
    const bridgesBefore = await a.ovs.vsctl(['list-br']);
    const cases: Array<[string, string[], string]> = [
      ['unknown mode', ['mode=vxlam'], 'mode'],
      ['vni with mode=vlan', ['vlan=870', 'vni=5001'], 'vni'],
      ['key with vxlan', ['mode=vxlan', 'vni=5001', 'key=42', remote], 'key'],
      ['vni with gre', ['mode=gre', 'key=42', 'vni=5001', remote], 'vni'],
      ['vxlan without vni', ['mode=vxlan', remote], 'vni'],
      ['gre without key', ['mode=gre', remote], 'key'],
      ['vxlan without remote', ['mode=vxlan', 'vni=5001'], 'remote'],
      ['gre without remote', ['mode=gre', 'key=42'], 'remote'],
      ['vni 0', ['mode=vxlan', 'vni=0', remote], 'vni'],
      ['vni 16777216', ['mode=vxlan', 'vni=16777216', remote], 'vni'],
      ['key 4294967296', ['mode=gre', 'key=4294967296', remote], 'key'],
      ['bad remote', ['mode=vxlan', 'vni=5001', 'remote=10.99.0.300'], 'remote'],
      ['bridge with vxlan', ['mode=vxlan', 'vni=5001', remote, `bridge=${RUN_PREFIX}x`], 'bridge'],
      ['uplink with vxlan', ['mode=vxlan', 'vni=5001', remote, `uplink=${sw.uplink}`], 'uplink'],
      ['native_vlan with gre', ['mode=gre', 'key=42', remote, 'native_vlan=5'], 'native_vlan'],
      ['vlan with gre', ['mode=gre', 'key=42', remote, 'vlan=860'], 'vlan'],
    ];
    for (const [name, opts, option] of cases) {
      const r = await a.docker(['network', 'create', '-d', 'ovsvlan', ...opts.flatMap((o) => ['--opt', o]), '--subnet', '10.61.0.0/24', 'bad']);
      t.not(r.exitCode, 0, `${name}: docker network create fails`);
      // the option is named as a word of its own, not as the value of mode= (e.g. "vlan" in "mode=vlan")
      t.match(r.stderr, new RegExp(`(?<![=\\w])${option}(?![\\w])`), `${name}: the message names "${option}": ${r.stderr.split('\n').pop()}`);
    }
    t.equal(await a.ovs.vsctl(['list-br']), bridgesBefore, 'no bridge created');
    t.same(await ownedPorts(a), [], 'no port of ours');
    t.notMatch(await a.dockerOk(['network', 'ls', '--format', '{{.Name}}']), /^bad$/m, 'no docker network');
    t.same(Object.keys((await a.plugin!.readState()).networks), [], 'no network in ovsvlan state');
  });
});

t.test('three hosts: one protected tunnel per remote, a full mesh without loops', async (t) => {
  const hosts = [await createHost('p', t), await createHost('q', t), await createHost('r', t)] as const;
  const ul = await createUnderlay(hosts, { t });
  for (const h of hosts) await h.startPlugin();
  for (const [i, h] of hosts.entries()) {
    await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'mode=vxlan', '--opt', 'vni=7001', '--opt', `remote=${remotesOf(ul, i)}`,
      '--subnet', '10.70.0.0/24', 'mesh']);
    const ports = await tunnels(h, await netId(h, 'mesh'));
    t.equal(ports.length, 2, `${h.name}: two tunnel ports, one per remote`);
    const remotes = await Promise.all(ports.map(async (p) => /remote_ip="?([\d.]+)/.exec(await h.ovs.vsctl(['get', 'interface', p.name, 'options']))?.[1]));
    t.same(remotes.sort(), ul.ips.filter((_, j) => j !== i), `${h.name}: to the other two VTEPs`);
    for (const p of ports) t.equal(await h.ovs.vsctl(['get', 'port', p.name, 'protected']), 'true', `${h.name}: ${p.name} protected`);
    await h.dockerOk(['run', '-d', '--name', `m${i}`, '--net', 'mesh', '--ip', `10.70.0.${11 + i}`, '--cap-add', 'NET_ADMIN', 'busybox:local', 'sleep', '3600']);
  }
  for (const [i, h] of hosts.entries()) {
    for (const j of [0, 1, 2].filter((j) => j !== i)) {
      t.ok(await ping(h, `m${i}`, `10.70.0.${11 + j}`), `${h.name} -> ${hosts[j]?.name}`);
    }
  }
  // an ARP broadcast flooded into a full mesh of tunnels that forward to each other would circle for ever
  const arpRequests = async (): Promise<{ requests: number; answered: boolean }> => {
    await hosts[0].dockerOk(['exec', 'm0', 'ip', 'neigh', 'flush', 'all']);
    const cap = await startCapture(hosts[0].ns.name, ul.nic, { count: 5000, seconds: 10, filter: ['udp', 'port', '4789'] });
    const r = await hosts[0].docker(['exec', 'm0', 'ping', '-c', '1', '-W', '2', '10.70.0.13']);
    await sleep(2000);
    const frames = await cap.stop();
    return { requests: frames.filter((f) => /who-has 10\.70\.0\.13/.test(f)).length, answered: r.exitCode === 0 };
  };
  const before = await arpRequests();
  t.ok(before.answered, 'p -> r with a fresh ARP lookup');
  t.ok(before.requests >= 1 && before.requests <= 4, `the ARP request crosses the underlay a bounded number of times (${before.requests})`);
  const all = (await Promise.all(hosts.map(async (h) => (await tunnels(h, await netId(h, 'mesh'))).map((p) => [h, p.name] as const)))).flat();
  for (const [h, p] of all) await h.ovs.vsctl(['set', 'port', p, 'protected=false']);
  const storm = await arpRequests();
  for (const [h, p] of all) await h.ovs.vsctl(['set', 'port', p, 'protected=true']);
  t.ok(storm.requests > 100, `control: the same tunnels without protected=true loop the broadcast (${storm.requests} ARP requests in 2 s)`);
  // the storm taught every bridge wrong ports for m0's MAC (flapping between tunnels): forget them
  await sleep(1000);
  for (const h of hosts) await h.ovs.appctl(['fdb/flush']);
  const after = await arpRequests();
  t.ok(after.answered && after.requests <= 8, `protected again: answered, bounded again (${after.requests})`);
});
