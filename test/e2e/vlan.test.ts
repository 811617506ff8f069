// Issue 2 end to end: a real dockerd drives ovsvlan, which puts containers on
// VLANs of a real OVS bridge (userspace datapath). Everything is observed the
// way a user would: docker CLI output, ping, TCP, `ip` in the container, and
// ovs-vsctl as an outside observer.
import t from 'tap';
import { createHost, type Host } from '../helpers/host.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { linkNames } from '../helpers/netns.js';
import { endpointId, ownedPorts, ping, pingFails, tcpTransfer } from '../helpers/traffic.js';

const SUBNET860 = '10.13.160.0/24';
const SUBNET861 = '10.13.161.0/24';

async function containerIp(host: Host, container: string, dev: string): Promise<string> {
  return host.dockerOk(['exec', container, 'ip', '-o', '-4', 'addr', 'show', 'dev', dev]);
}

t.test('containers on OVS VLANs through docker', async (t) => {
  const host = await createHost('a', t);
  const plugin = await host.startPlugin();
  const bridge = plugin.bridge;

  await t.test('two VLAN networks', async (t) => {
    const r = await host.docker(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=860', '--opt', 'mtu=1400',
      '--subnet', SUBNET860, '--gateway', '10.13.160.1', 'v860']);
    t.equal(r.exitCode, 0, `network create v860: ${r.stderr}`);
    await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=861', '--subnet', SUBNET861, '--gateway', '10.13.161.1', 'v861']);
    t.match(await host.ovs.vsctl(['list-br']), bridge, 'bridge created');
    t.equal((await host.ovs.vsctl(['get', 'bridge', bridge, 'datapath_type'])).replace(/"/g, ''), 'netdev');
  });

  await host.dockerOk(['run', '-d', '--name', 'c1', '--net', 'v860', '--ip', '10.13.160.10', 'busybox:local', 'sleep', '3600']);
  await host.dockerOk(['run', '-d', '--name', 'c2', '--net', 'v860', '--ip', '10.13.160.11', 'busybox:local', 'sleep', '3600']);
  await host.dockerOk(['run', '-d', '--name', 'c3', '--net', 'v861', '--ip', '10.13.161.12', '--cap-add', 'NET_ADMIN', 'busybox:local', 'sleep', '3600']);

  await t.test('same VLAN: ping and 1 MB over TCP', async (t) => {
    t.ok(await ping(host, 'c1', '10.13.160.11'), 'c1 -> c2 ping');
    t.ok(await ping(host, 'c2', '10.13.160.10'), 'c2 -> c1 ping');
    t.ok(await tcpTransfer(host, 'c2', '10.13.160.11', 'c1', 1_000_000), '1 MB c1 -> c2 over TCP, checksums equal');
  });

  await t.test('other VLAN is isolated at layer 2, even inside the same subnet', async (t) => {
    await host.dockerOk(['exec', 'c3', 'ip', 'addr', 'add', '10.13.160.99/24', 'dev', 'eth0']);
    t.ok(await pingFails(host, 'c3', '10.13.160.10'), 'c3 (VLAN 861, address in 860 subnet) cannot reach c1');
    t.ok(await pingFails(host, 'c1', '10.13.160.99'), 'c1 cannot reach c3');
    // control: the same port retagged to 860 becomes reachable, so the check above can fail
    const c3Port = (await ownedPorts(host)).find((p) => p.tag === 861);
    t.ok(c3Port, 'c3 has a port on 861');
    await host.ovs.vsctl(['set', 'port', c3Port!.name, 'tag=860']);
    t.ok(await ping(host, 'c1', '10.13.160.99'), 'control: retagged to 860, c3 is reachable');
    await host.ovs.vsctl(['set', 'port', c3Port!.name, 'tag=861']);
    t.ok(await pingFails(host, 'c1', '10.13.160.99'), 'control: tag restored, isolated again');
    await host.dockerOk(['exec', 'c3', 'ip', 'addr', 'del', '10.13.160.99/24', 'dev', 'eth0']);
  });

  await t.test('--ip, gateway route and MTU inside the container', async (t) => {
    t.match(await containerIp(host, 'c1', 'eth0'), /inet 10\.13\.160\.10\/24/);
    t.match(await host.dockerOk(['exec', 'c1', 'ip', 'route']), /default via 10\.13\.160\.1 dev eth0/);
    t.match(await host.dockerOk(['exec', 'c1', 'ip', 'link', 'show', 'eth0']), /mtu 1400 /);
    t.match(await host.dockerOk(['exec', 'c3', 'ip', 'link', 'show', 'eth0']), /mtu 1500 /, 'default MTU');
  });

  await t.test('each container has a tagged OVS port with our external_ids', async (t) => {
    const net860 = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'v860']);
    const net861 = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'v861']);
    const ports = await ownedPorts(host);
    t.equal(ports.length, 3, 'three ports of ours');
    for (const [c, net, tag] of [['c1', net860, 860], ['c2', net860, 860], ['c3', net861, 861]] as const) {
      const ep = await endpointId(host, c, tag === 860 ? 'v860' : 'v861');
      const port = ports.find((p) => p.externalIds['ovsvlan-endpoint'] === ep);
      t.ok(port, `${c}: a port carries its endpoint ID`);
      t.equal(port?.tag, tag, `${c}: tag ${tag}`);
      t.equal(port?.externalIds['ovsvlan-network'], net, `${c}: network ID`);
      t.equal(port?.externalIds['ovsvlan-owner'], 'ovsvlan', `${c}: owner`);
      t.match(await host.ovs.vsctl(['port-to-br', port?.name ?? '?']), bridge, `${c}: on bridge ${bridge}`);
    }
  });

  await t.test('network connect / disconnect add and remove eth1', async (t) => {
    await host.dockerOk(['network', 'connect', 'v861', 'c1']);
    t.match(await containerIp(host, 'c1', 'eth1'), /inet 10\.13\.161\.\d+\/24/, 'eth1 in the 861 subnet');
    t.ok(await ping(host, 'c1', '10.13.161.12'), 'c1 reaches c3 over eth1 on VLAN 861');
    t.equal((await ownedPorts(host)).filter((p) => p.tag === 861).length, 2, 'a second port on 861');
    await host.dockerOk(['network', 'disconnect', 'v861', 'c1']);
    const links = await host.dockerOk(['exec', 'c1', 'ip', '-o', 'link']);
    t.notMatch(links, /eth1/, 'eth1 gone');
    t.equal((await ownedPorts(host)).filter((p) => p.tag === 861).length, 1, 'its port gone');
  });

  await t.test('stopping the daemon does not stop traffic', async (t) => {
    await plugin.stop();
    t.ok(await ping(host, 'c1', '10.13.160.11'), 'c1 -> c2 while ovsvlan is down');
    await plugin.start();
    t.ok(await ping(host, 'c2', '10.13.160.10'), 'c2 -> c1 after restart');
  });

  await t.test('nothing of ours is left after rm -f and network rm', async (t) => {
    await host.dockerOk(['rm', '-f', 'c1', 'c2', 'c3']);
    await host.dockerOk(['network', 'rm', 'v860', 'v861']);
    t.same(await ownedPorts(host), [], 'no OVS port of ours');
    const ours = (await linkNames(host.ns.name)).filter((n) => /^ov[hc][0-9a-f]{12}$/.test(n));
    t.same(ours, [], 'no veth of ours');
    t.notMatch(await host.ovs.vsctl(['list-br']), bridge, 'the bridge ovsvlan created is gone with its last network');
  });
});

t.test('bad options fail docker network create and leave nothing behind', async (t) => {
  const host = await createHost('b', t);
  const plugin = await host.startPlugin();
  const cases: Array<[string, string[], RegExp]> = [
    ['no vlan', [], /option "vlan" is required: a VLAN ID from 1 to 4094/],
    ['vlan 0', ['--opt', 'vlan=0'], /invalid vlan "0": must be a VLAN ID from 1 to 4094/],
    ['vlan 4095', ['--opt', 'vlan=4095'], /invalid vlan "4095"/],
    ['vlan text', ['--opt', 'vlan=abc'], /invalid vlan "abc"/],
    ['unknown option', ['--opt', 'vlan=860', '--opt', 'colour=red'], /unknown option "colour"; ovsvlan network options are: mode, vlan, bridge, mtu/],
    ['long bridge', ['--opt', 'vlan=860', '--opt', 'bridge=abcdefghijklmnop'], /invalid bridge "abcdefghijklmnop": must be an OVS bridge name of 1-15/],
    ['odd bridge', ['--opt', 'vlan=860', '--opt', 'bridge=br$x'], /invalid bridge "br\$x"/],
    ['bridge that is another interface', ['--opt', 'vlan=860', '--opt', 'bridge=lo'], /"lo" is an existing .*interface, not an OVS bridge/],
    ['mtu', ['--opt', 'vlan=860', '--opt', 'mtu=20'], /invalid mtu "20": must be an MTU from 68 to 65535/],
  ];
  const bridgesBefore = await host.ovs.vsctl(['list-br']);
  for (const [name, opts, message] of cases) {
    const r = await host.docker(['network', 'create', '-d', 'ovsvlan', ...opts, '--subnet', '10.13.170.0/24', `bad-${RUN_PREFIX}`]);
    t.not(r.exitCode, 0, `${name}: docker network create fails`);
    t.match(r.stderr, message, `${name}: clear message`);
  }
  t.equal(await host.ovs.vsctl(['list-br']), bridgesBefore, 'no bridge created');
  t.equal(await host.ovs.vsctl(['--columns=name', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']), '', 'no port created');
  t.notMatch(await host.dockerOk(['network', 'ls', '--format', '{{.Name}}']), /bad-/, 'no docker network');
  t.same(Object.keys((await plugin.readState()).networks), [], 'no network in ovsvlan state');
});
