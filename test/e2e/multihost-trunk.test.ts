// Issue 4, trunk uplinks and host access: two simulated hosts whose uplink `${RUN_PREFIX}up` is
// cabled to a trunk port (860, 861) of a bridge playing the physical switch, plus the veth underlay.
//  3. VLAN 860 talks across hosts through the uplinks, 861 is isolated from it (one subnet for
//     both), and tcpdump on the trunk cable sees 802.1Q tags 860 and 861, nothing else, nothing untagged.
//  4. An uplink holding an address (or the default route) is refused with a message pointing to
//     docs/multi-host.md; host_ip lets the host (its netns) reach its containers on that VLAN only.
//  5. The uplink's trunks follow the networks; removing the last network on a bridge detaches the
//     uplink (the NIC itself stays) and removes tunnel and host ports: nothing of ours is left.
import t from 'tap';
import { createHost, type Host } from '../helpers/host.js';
import { networkPortNames } from '../../src/names.js';
import { linkNames } from '../helpers/netns.js';
import { createSwitch, createUnderlay, nsPing, tcpAcross, vlanTags } from '../helpers/multihost.js';
import { RUN_PREFIX, run, sleep } from '../helpers/run.js';
import { ownedPorts, ping, pingFails } from '../helpers/traffic.js';

const SAME_SUBNET = ['--ipam-driver', 'ovsvlan', '--subnet', '10.86.0.0/24', '--gateway', '10.86.0.1'];

const netId = (h: Host, net: string): Promise<string> => h.dockerOk(['network', 'inspect', '-f', '{{.Id}}', net]);
const runC = (h: Host, name: string, net: string, ip: string): Promise<string> =>
  h.dockerOk(['run', '-d', '--name', name, '--net', net, '--ip', ip, 'busybox:local', 'sleep', '3600']);
const unquote = (s: string): string => s.replace(/^"|"$/g, '');
/** `trunks` of a port as numbers ([] when empty). */
const trunksOf = async (h: Host, port: string): Promise<number[]> =>
  (await h.ovs.vsctl(['get', 'port', port, 'trunks'])).replace(/[[\]\s]/g, '').split(',').filter(Boolean).map(Number);
const uplinkPorts = async (h: Host): Promise<string[]> =>
  (await ownedPorts(h)).filter((p) => p.externalIds['ovsvlan-role'] === 'uplink').map((p) => p.name);

t.test('VLANs across hosts through trunk uplinks, uplink safety, host access', async (t) => {
  const a = await createHost('a', t);
  const b = await createHost('b', t);
  const hosts = [a, b] as const;
  const ul = await createUnderlay(hosts, { t });
  const sw = await createSwitch(hosts, { t, trunks: [860, 861] });
  for (const h of hosts) await h.startPlugin();
  const bridge = a.plugin!.bridge;

  await t.test('3. VLAN 860 across hosts through the trunk, 861 isolated, only tags 860/861 on the wire', async (t) => {
    t.teardown(async () => { for (const h of hosts) await h.dockerd.clean(); });
    for (const h of hosts) {
      for (const vlan of [860, 861]) {
        const r = await h.docker(['network', 'create', '-d', 'ovsvlan', '--opt', `vlan=${vlan}`, '--opt', `uplink=${sw.uplink}`, ...SAME_SUBNET, `v${vlan}`]);
        t.equal(r.exitCode, 0, `${h.name}: v${vlan} with uplink=${sw.uplink}: ${r.stderr}`);
      }
      t.same(await uplinkPorts(h), [sw.uplink], `${h.name}: the uplink is a port of ours (role uplink)`);
      t.equal(await h.ovs.vsctl(['port-to-br', sw.uplink]), bridge, `${h.name}: on bridge ${bridge}`);
      t.same(await trunksOf(h, sw.uplink), [860, 861], `${h.name}: trunks=860,861`);
      t.equal(await h.ovs.vsctl(['get', 'port', sw.uplink, 'tag']), '[]', `${h.name}: no access tag on the uplink`);
    }
    await runC(a, 'a860', 'v860', '10.86.0.11');
    await runC(a, 'a861', 'v861', '10.86.0.13');
    await runC(b, 'b860', 'v860', '10.86.0.12');
    await runC(b, 'b861', 'v861', '10.86.0.14');

    const cap = await sw.capture(a, { count: 20_000, seconds: 90 });
    t.ok(await ping(a, 'a860', '10.86.0.12'), 'A/860 -> B/860');
    t.ok(await ping(b, 'b860', '10.86.0.11'), 'B/860 -> A/860');
    t.ok(await ping(a, 'a861', '10.86.0.14'), 'A/861 -> B/861');
    t.ok(await tcpAcross({ host: b, container: 'b860', ip: '10.86.0.12' }, { host: a, container: 'a860' }, 1_000_000), '1 MB A/860 -> B/860 over TCP');
    const isolated = await Promise.all([
      pingFails(a, 'a860', '10.86.0.14'), pingFails(a, 'a861', '10.86.0.12'), pingFails(b, 'b861', '10.86.0.11'), pingFails(a, 'a860', '10.86.0.13'),
    ]);
    t.same(isolated, [true, true, true, true], '860 and 861 do not meet: A/860 -/-> B/861, A/861 -/-> B/860, B/861 -/-> A/860, A/860 -/-> A/861');
    const frames = await cap.stop();
    const { tags, untagged } = vlanTags(frames);
    t.ok(frames.length > 10, `${frames.length} frames captured on A's trunk cable`);
    t.same([...tags].sort(), [860, 861], '802.1Q tags 860 and 861, and no other tag');
    t.same(untagged, [], 'no untagged frame');
    t.ok(frames.some((f) => /vlan 860,.*10\.86\.0\.11 > 10\.86\.0\.12: ICMP echo request/.test(f)), 'A/860 echo requests leave tagged 860');
    t.ok(frames.some((f) => /vlan 861,.*10\.86\.0\.13 > 10\.86\.0\.14: ICMP echo request/.test(f)), 'A/861 echo requests leave tagged 861');

    // control: B/861's port retagged 860 becomes reachable from A/860, so the isolation above can fail
    const b861 = (await ownedPorts(b)).find((p) => p.tag === 861 && p.externalIds['ovsvlan-role'] === 'endpoint');
    await b.ovs.vsctl(['set', 'port', b861?.name ?? '?', 'tag=860']);
    t.ok(await ping(a, 'a860', '10.86.0.14'), 'control: B/861 retagged 860 answers A/860');
    await b.ovs.vsctl(['set', 'port', b861?.name ?? '?', 'tag=861']);
  });

  await t.test('4. an uplink with an address or the default route is refused; host_ip reaches containers', async (t) => {
    t.teardown(async () => { for (const h of hosts) await h.dockerd.clean(); });
    const [withAddr, withRoute, peer] = [`${RUN_PREFIX}ad`, `${RUN_PREFIX}dr`, `${RUN_PREFIX}pe`];
    t.teardown(async () => { for (const l of [withAddr, withRoute]) await run('ip', ['-n', a.ns.name, 'link', 'del', l]); });
    await a.ns.ip(['link', 'add', withAddr, 'type', 'veth', 'peer', 'name', peer]);
    await a.ns.ip(['addr', 'add', '192.0.2.1/24', 'dev', withAddr]);
    await a.ns.ip(['link', 'add', withRoute, 'type', 'veth', 'peer', 'name', `${peer}2`]);
    for (const l of [withAddr, withRoute, peer, `${peer}2`]) await a.ns.ip(['link', 'set', l, 'up']);
    await a.ns.ip(['route', 'add', 'default', 'dev', withRoute]);
    const br4 = `${RUN_PREFIX}b4`;
    const before = await a.ovs.vsctl(['list-br']);
    for (const [iface, why] of [[withAddr, /192\.0\.2\.1/], [withRoute, /default route/]] as const) {
      const r = await a.docker(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=870', '--opt', `bridge=${br4}`, '--opt', `uplink=${iface}`, '--subnet', '10.87.9.0/24', 'bad']);
      t.not(r.exitCode, 0, `uplink ${iface}: docker network create fails`);
      t.match(r.stderr, new RegExp(`uplink "?${iface}"?`), `names the interface: ${r.stderr.split('\n').pop()}`);
      t.match(r.stderr, why, 'says what it holds');
      t.match(r.stderr, /docs\/multi-host\.md/, 'points to docs/multi-host.md');
      t.not((await run('ovs-vsctl', [`--db=unix:${a.ovs.dbSock}`, 'port-to-br', iface])).exitCode, 0, `${iface} is not put on any bridge`);
    }
    t.equal(await a.ovs.vsctl(['list-br']), before, `no bridge created (${br4} does not exist)`);
    t.match(await a.ns.ip(['-4', 'addr', 'show', 'dev', withAddr]), /192\.0\.2\.1\/24/, 'the address is untouched');
    t.match(await a.ns.ip(['route', 'show', 'default']), new RegExp(`dev ${withRoute}`), 'the default route is untouched');
    await a.ns.ip(['route', 'del', 'default', 'dev', withRoute]);
    // an IPv6 link-local address alone is no reason to refuse
    const ll = `${RUN_PREFIX}ll`;
    t.teardown(() => run('ip', ['-n', a.ns.name, 'link', 'del', ll]));
    await a.ns.ip(['link', 'add', ll, 'type', 'veth', 'peer', 'name', `${peer}3`]);
    await a.ns.execOk('sysctl', ['-qw', `net.ipv6.conf.${ll}.disable_ipv6=0`]);
    for (const l of [ll, `${peer}3`]) await a.ns.ip(['link', 'set', l, 'up']);
    t.match(await a.ns.ip(['-6', 'addr', 'show', 'dev', ll]), /inet6 fe80::.* scope link/, `${ll} has only a link-local address`);
    const okLl = await a.docker(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=870', '--opt', `bridge=${br4}`, '--opt', `uplink=${ll}`, '--subnet', '10.87.9.0/24', 'll870']);
    t.equal(okLl.exitCode, 0, `an uplink with only an IPv6 link-local address is accepted: ${okLl.stderr}`);
    t.equal(await a.ovs.vsctl(['port-to-br', ll]), br4, `${ll} is the uplink of ${br4}`);
    await a.dockerOk(['network', 'rm', 'll870']);

    // host_ip: the host's own address on VLAN 870; a VLAN-871 container in the same subnet stays out of reach
    const h870 = ['--ipam-driver', 'ovsvlan', '--subnet', '10.87.0.0/24', '--gateway', '10.87.0.1'];
    const r = await a.docker(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=870', '--opt', 'host_ip=10.87.0.254/24', ...h870, 'h870']);
    t.equal(r.exitCode, 0, `network with host_ip: ${r.stderr}`);
    await a.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=871', ...h870, 'h871']);
    await runC(a, 'hc', 'h870', '10.87.0.10');
    await runC(a, 'hd', 'h871', '10.87.0.11');
    const id = await netId(a, 'h870');
    const ovi = networkPortNames(id, 0, true).host ?? '';
    const port = (await ownedPorts(a)).find((p) => p.name === ovi);
    t.ok(port, `internal port ${ovi} is ours`);
    t.equal(port?.tag, 870, 'on VLAN 870');
    t.equal(port?.externalIds['ovsvlan-role'], 'host', 'role host');
    t.equal(port?.externalIds['ovsvlan-network'], id, 'network ID');
    t.equal(unquote(await a.ovs.vsctl(['get', 'interface', ovi, 'type'])), 'internal', 'an OVS internal port');
    t.match(await a.ns.ip(['-4', 'addr', 'show', 'dev', ovi]), /inet 10\.87\.0\.254\/24/, 'holds 10.87.0.254/24 in the host netns');
    t.ok(await nsPing(a.ns.name, '10.87.0.10'), 'the host pings its container on VLAN 870');
    t.ok(await ping(a, 'hc', '10.87.0.254'), 'the container pings the host');
    t.notOk(await nsPing(a.ns.name, '10.87.0.11', 1), 'the host does not reach the VLAN-871 container in the same subnet');
    await a.dockerOk(['rm', '-f', 'hc', 'hd']);
    await a.dockerOk(['network', 'rm', 'h870', 'h871']);
    t.notOk((await linkNames(a.ns.name)).includes(ovi), `${ovi} removed with its network`);
  });

  await t.test('5. trunks follow the networks; the last network on a bridge takes uplink, tunnels and host port away', async (t) => {
    t.teardown(async () => { for (const h of hosts) await h.dockerd.clean(); });
    const br5 = `${RUN_PREFIX}b5`;
    const overlaySubnet = ['--ipam-driver', 'ovsvlan', '--subnet', '10.88.0.0/24', '--gateway', '10.88.0.1'];
    const mk = (name: string, subnet: readonly string[], ...opts: string[]): Promise<string> =>
      a.dockerOk(['network', 'create', '-d', 'ovsvlan', ...opts.flatMap((o) => ['--opt', o]), ...subnet, name]);
    await mk('w860', SAME_SUBNET, 'vlan=860', `uplink=${sw.uplink}`, 'native_vlan=860', `bridge=${br5}`);
    t.equal(unquote(await a.ovs.vsctl(['get', 'port', sw.uplink, 'vlan_mode'])), 'native-untagged', 'native_vlan: vlan_mode=native-untagged');
    t.equal(await a.ovs.vsctl(['get', 'port', sw.uplink, 'tag']), '860', 'native_vlan: tag=860');
    await mk('w861', SAME_SUBNET, 'vlan=861', `bridge=${br5}`, 'host_ip=10.86.0.253/24');
    await mk('w862', SAME_SUBNET, 'vlan=862', `bridge=${br5}`);
    await mk('ovx', overlaySubnet, 'mode=vxlan', 'vni=5501', `remote=${ul.ips[1]}`, 'host_ip=10.88.0.252/24');
    await mk('ogre', overlaySubnet, 'mode=gre', 'key=5502', `remote=${ul.ips[1]}`);
    t.same(await trunksOf(a, sw.uplink), [860, 861, 862], 'a network on the bridge shares the uplink: trunks 860,861,862');
    for (const [c, net, ip] of [['x860', 'w860', '10.86.0.21'], ['x861', 'w861', '10.86.0.22'], ['xvx', 'ovx', '10.88.0.23'], ['xgre', 'ogre', '10.88.0.24']] as const) {
      await runC(a, c, net, ip);
    }
    const roles = (await ownedPorts(a)).map((p) => p.externalIds['ovsvlan-role']).sort();
    t.same(roles, ['endpoint', 'endpoint', 'endpoint', 'endpoint', 'host', 'host', 'tunnel', 'tunnel', 'uplink'], 'our ports: 4 endpoints, 2 host, 2 tunnels, 1 uplink');

    await a.dockerOk(['network', 'rm', 'w862']);
    t.same(await trunksOf(a, sw.uplink), [860, 861], 'w862 removed: trunks 860,861');
    await a.dockerOk(['rm', '-f', 'x861']);
    await a.dockerOk(['network', 'rm', 'w861']);
    t.same(await trunksOf(a, sw.uplink), [860], 'w861 removed: trunks 860');
    await a.dockerOk(['rm', '-f', 'x860', 'xvx', 'xgre']);
    await a.dockerOk(['network', 'rm', 'w860', 'ovx', 'ogre']);
    t.not((await run('ovs-vsctl', [`--db=unix:${a.ovs.dbSock}`, 'port-to-br', sw.uplink])).exitCode, 0, 'last network gone: the uplink is detached');
    t.ok((await linkNames(a.ns.name)).includes(sw.uplink), 'the uplink interface itself is left alone');
    t.equal(await a.ovs.vsctl(['--columns=name', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']), '', 'ovs-vsctl find Port external_ids:ovsvlan-owner=ovsvlan: empty');
    t.same((await linkNames(a.ns.name)).filter((n) => /^ov[bhcti]/.test(n)), [], 'no ov[bhcti]… link left');
    const brs = (await a.ovs.vsctl(['list-br'])).split('\n');
    t.same(brs.filter((br) => br === br5 || br.startsWith('ovb')), [], `${br5} and the overlay bridges are gone`);
    t.match(await a.ns.ip(['-4', 'addr']), /10\.99\.0\.1\/24/, 'the underlay address is still there');
    t.notMatch(await a.ns.ip(['-4', 'addr']), /10\.8[68]\.0\.25[23]/, 'no host_ip address left');
    t.same(Object.keys((await a.plugin!.readState()).networks), [], 'no network in ovsvlan state');
  });

  await t.test('5b. the uplink stays while any network is on the bridge, whichever network named it', async (t) => {
    t.teardown(async () => { for (const h of hosts) await h.dockerd.clean(); });
    // on B: a network that does not name the uplink comes first, then one that does
    await b.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=861', ...SAME_SUBNET, 'u861']);
    await b.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=860', '--opt', `uplink=${sw.uplink}`, ...SAME_SUBNET, 'u860']);
    t.same(await trunksOf(b, sw.uplink), [860, 861], 'trunks 860,861: the earlier network is carried too');
    await b.dockerOk(['network', 'rm', 'u860']);
    const attached = await run('ovs-vsctl', [`--db=unix:${b.ovs.dbSock}`, 'port-to-br', sw.uplink]);
    t.equal(attached.stdout, bridge, 'u861 is still on the bridge: the uplink stays attached');
    if (attached.exitCode === 0) t.same(await trunksOf(b, sw.uplink), [861], 'trunks 861');
    await b.dockerOk(['network', 'rm', 'u861']);
    t.not((await run('ovs-vsctl', [`--db=unix:${b.ovs.dbSock}`, 'port-to-br', sw.uplink])).exitCode, 0, 'the last network gone: detached');
  });

  await t.test('6. a restarted daemon puts back tunnel, uplink and host ports that OVS lost', async (t) => {
    t.teardown(async () => { for (const h of hosts) await h.dockerd.clean(); });
    const ov = ['--ipam-driver', 'ovsvlan', '--subnet', '10.89.0.0/24', '--gateway', '10.89.0.1'];
    for (const [i, h] of hosts.entries()) {
      await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=860', '--opt', `uplink=${sw.uplink}`, ...SAME_SUBNET, 'r860']);
      await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'mode=vxlan', '--opt', 'vni=5601', '--opt', `remote=${ul.ips[1 - i]}`,
        ...(h === a ? ['--opt', 'host_ip=10.89.0.254/24'] : []), ...ov, 'rx']);
      await runC(h, `r${h.name}`, 'r860', `10.86.0.4${i}`);
      await runC(h, `x${h.name}`, 'rx', `10.89.0.4${i}`);
    }
    const infra = async (): Promise<string[]> => (await ownedPorts(a)).filter((p) => p.externalIds['ovsvlan-role'] !== 'endpoint').map((p) => p.name).sort();
    const expected = await infra();
    t.equal(expected.length, 3, `A: tunnel, uplink and host port (${expected.join(', ')})`);
    const tunnel = expected.find((n) => n.startsWith('ovt')) ?? '?';
    await a.plugin!.stop();
    for (const p of expected) await a.ovs.vsctl(['del-port', p]);
    t.ok(await pingFails(a, 'ra', '10.86.0.41'), 'without the uplink A/860 is cut off (as expected)');
    await a.plugin!.start();
    let now: string[] = [];
    for (let i = 0; i < 50 && (now = await infra()).join() !== expected.join(); i++) await sleep(200);
    t.same(now, expected, 'all three are back after the restart');
    t.same(await trunksOf(a, sw.uplink), [860], 'uplink trunks 860');
    t.match(await a.ovs.vsctl(['get', 'interface', tunnel, 'options']), /key="?5601"?/, 'tunnel key 5601');
    t.ok(await ping(a, 'ra', '10.86.0.41'), 'A/860 -> B/860 again');
    t.ok(await ping(a, 'xa', '10.89.0.41'), 'A/rx -> B/rx again');
    t.ok(await nsPing(a.ns.name, '10.89.0.40'), 'the host reaches its overlay container through host_ip again');
    // a tunnel that is there but wrong (someone changed its key) is repaired too, say the reconciliation rules
    await a.plugin!.stop();
    await a.ovs.vsctl(['set', 'interface', tunnel, 'options:key=9999']);
    await a.plugin!.start();
    let key = '';
    for (let i = 0; i < 50 && !/key="?5601"?/.test(key = await a.ovs.vsctl(['get', 'interface', tunnel, 'options'])); i++) await sleep(200);
    t.match(key, /key="?5601"?/, 'infra-missing: a tunnel with a wrong key is put right');
  });
});
