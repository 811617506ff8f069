// Issue 5 end to end: ovsvlan as a managed (v2) plugin, built offline (plugin/build.sh), then
// `docker plugin create` / `set` / `enable` on a private dockerd, and the VLAN checks of issue 2
// through `-d ovsvlan:latest`. Also: `plugin set` taking effect, a dockerd restart bringing
// restart-policy containers back on their VLAN, `disable` refused while networks exist, `disable -f`
// leaving the data plane up, the state outliving `plugin rm`, and a DHCP network refused (the plugin
// has no CAP_SYS_ADMIN). Observed as a user would: docker CLI, ping and TCP between containers,
// ovs-vsctl as an outside observer.
import { mkdir } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { createHost, readPluginState, type Host } from '../helpers/host.js';
import { DRIVER, PLUGIN, pluginDir, pluginEnabled, pluginEnv, pluginPids, pluginSocketAnswers, setPlugin, timedDocker } from '../helpers/managed.js';
import { linkNames } from '../helpers/netns.js';
import { RUN_PREFIX, run as runCmd, waitFor } from '../helpers/run.js';
import { endpointId, ownedPorts, ping, pingFails, tcpTransfer } from '../helpers/traffic.js';

const BR_A = `${RUN_PREFIX}brA`;
const BR_B = `${RUN_PREFIX}brB`;

const running = async (host: Host, c: string): Promise<boolean> =>
  (await host.docker(['inspect', '-f', '{{.State.Running}}', c])).stdout === 'true';

t.test('ovsvlan as a managed plugin', async (t) => {
  const plugin = await pluginDir(t);
  t.comment(`plugin dir ${plugin.dir}: rootfs ${plugin.size}, build ${plugin.buildMs} ms, IPAM in build: ${plugin.hasIpam}`);
  // DHCP networks (issue 12) run udhcpc, both nsenters and udhcpc's hook (a /bin/sh script) in the rootfs
  for (const argv of [['busybox', 'udhcpc', '--help'], ['busybox', 'nsenter', '--help'], ['nsenter', '--version'],
    ['/bin/sh', '-c', 'test -x /app/scripts/udhcpc-hook']]) {
    const r = await runCmd('chroot', [`${plugin.dir}/rootfs`, ...argv], { env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, extendEnv: false });
    t.equal(r.exitCode, 0, `chroot rootfs ${argv.join(' ')}`);
  }
  const host = await createHost('m', t);
  await mkdir(host.stateDir, { recursive: true });
  const ipam = plugin.hasIpam ? ['--ipam-driver', DRIVER] : [];
  t.comment(plugin.hasIpam ? `networks use --ipam-driver ${DRIVER}` : 'no IPAM driver in this build: networks use Docker\'s default IPAM');
  const net = (name: string, vlan: number, third: number, extra: string[] = []): Promise<string> =>
    host.dockerOk(['network', 'create', '-d', DRIVER, ...ipam, '--opt', `vlan=${vlan}`, ...extra,
      '--subnet', `10.13.${third}.0/24`, '--gateway', `10.13.${third}.1`, name]);
  const bridges = async (): Promise<string[]> => (await host.ovs.vsctl(['list-br'])).split('\n').filter(Boolean);
  // the state as the daemon loads it: state.json and the journal after it (state.json alone may not exist yet)
  const state = async (): Promise<{ networks: Record<string, unknown> }> => readPluginState(host.stateDir);

  await t.test('create, set and enable from the plugin dir, offline', async (t) => {
    const create = await timedDocker(host, ['plugin', 'create', PLUGIN, plugin.dir]);
    t.equal(await pluginEnabled(host), false, 'created as ovsvlan:latest, disabled');
    t.match(await host.dockerOk(['plugin', 'ls', '--format', '{{.Name}}']), /^ovsvlan:latest$/m);
    const fixed = await host.docker(['plugin', 'set', PLUGIN, 'OVSVLAN_SOCKET=/tmp/x.sock']);
    t.not(fixed.exitCode, 0, 'OVSVLAN_SOCKET is not settable');
    await setPlugin(host, { OVSVLAN_BRIDGE: BR_A, OVSVLAN_DATAPATH: 'netdev', OVSVLAN_LOG_LEVEL: 'debug', 'state.source': `${host.stateDir}-none` });
    const missing = await host.docker(['plugin', 'enable', PLUGIN]);
    t.not(missing.exitCode, 0, 'enable fails while the state directory does not exist');
    t.match(missing.stderr, `${host.stateDir}-none`, 'and the error names it');
    await setPlugin(host, { 'state.source': host.stateDir });
    const enable = await timedDocker(host, ['plugin', 'enable', PLUGIN]);
    t.equal(await pluginEnabled(host), true, 'enabled');
    t.ok(await pluginSocketAnswers(host), 'the plugin listens on its socket');
    t.comment(`docker plugin create: ${create.ms} ms, enable: ${enable.ms} ms`);
    await net('probe', 870, 170);
    t.same((await ownedPorts(host)).length, 0, 'no port before a container');
    t.ok((await bridges()).includes(BR_A), `network on OVSVLAN_BRIDGE=${BR_A}`);
    await host.dockerOk(['network', 'rm', 'probe']);
  });

  await t.test('docker plugin set OVSVLAN_BRIDGE takes effect after enable', async (t) => {
    await host.dockerOk(['plugin', 'disable', PLUGIN]);
    await setPlugin(host, { OVSVLAN_BRIDGE: BR_B });
    t.equal(await pluginEnv(host, 'OVSVLAN_BRIDGE'), BR_B, 'docker plugin inspect shows the new value');
    await host.dockerOk(['plugin', 'enable', PLUGIN]);
    await net('v860', 860, 160, ['--opt', 'mtu=1400']);
    await net('v861', 861, 161);
    const brs = await bridges();
    t.ok(brs.includes(BR_B), `new networks land on ${BR_B}`);
    t.notOk(brs.includes(BR_A), `${BR_A} went with its last network`);
    t.equal((await host.ovs.vsctl(['get', 'bridge', BR_B, 'datapath_type'])).replace(/"/g, ''), 'netdev', 'OVSVLAN_DATAPATH=netdev applied');
  });

  const run = (name: string, netName: string, ip: string, extra: string[] = []): Promise<string> =>
    host.dockerOk(['run', '-d', '--name', name, '--restart=always', '--stop-timeout', '1', '--net', netName, '--ip', ip,
      ...extra, 'busybox:local', 'sleep', '3600']);
  await run('c1', 'v860', '10.13.160.10');
  await run('c2', 'v860', '10.13.160.11');
  await run('c3', 'v861', '10.13.161.12', ['--cap-add', 'NET_ADMIN']);

  const vlanChecks = async (t: Test, when: string): Promise<void> => {
    t.ok(await ping(host, 'c1', '10.13.160.11'), `${when}: c1 -> c2 ping`);
    t.ok(await tcpTransfer(host, 'c2', '10.13.160.11', 'c1', 1_000_000), `${when}: 1 MB c1 -> c2 over TCP`);
    await host.dockerOk(['exec', 'c3', 'ip', 'addr', 'add', '10.13.160.99/24', 'dev', 'eth0']);
    t.ok(await pingFails(host, 'c1', '10.13.160.99'), `${when}: c3 (VLAN 861, address in 860's subnet) unreachable from c1`);
    t.ok(await pingFails(host, 'c3', '10.13.160.10'), `${when}: c1 unreachable from c3`);
    await host.dockerOk(['exec', 'c3', 'ip', 'addr', 'del', '10.13.160.99/24', 'dev', 'eth0']);
  };
  const portChecks = async (t: Test, when: string): Promise<void> => {
    const ports = await ownedPorts(host);
    t.equal(ports.length, 3, `${when}: three ports of ours`);
    for (const [c, netName, tag] of [['c1', 'v860', 860], ['c2', 'v860', 860], ['c3', 'v861', 861]] as const) {
      const id = await endpointId(host, c, netName);
      const port = ports.find((p) => p.externalIds['ovsvlan-endpoint'] === id);
      t.equal(port?.tag, tag, `${when}: ${c}'s port (endpoint ${id.slice(0, 12)}) has tag ${tag}`);
      t.equal(port?.externalIds['ovsvlan-network'], await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', netName]), `${when}: ${c}: network ID`);
      t.equal(port && (await host.ovs.vsctl(['port-to-br', port.name])), BR_B, `${when}: ${c}: on ${BR_B}`);
    }
  };

  await t.test('VLAN checks of issue 2 through -d ovsvlan:latest', async (t) => {
    await vlanChecks(t, 'managed');
    // control: retagged to 860, c3 becomes reachable, so the isolation checks can fail
    const c3Port = (await ownedPorts(host)).find((p) => p.tag === 861);
    await host.dockerOk(['exec', 'c3', 'ip', 'addr', 'add', '10.13.160.99/24', 'dev', 'eth0']);
    await host.ovs.vsctl(['set', 'port', c3Port?.name ?? '?', 'tag=860']);
    t.ok(await ping(host, 'c1', '10.13.160.99'), 'control: retagged to 860, c3 is reachable');
    await host.ovs.vsctl(['set', 'port', c3Port?.name ?? '?', 'tag=861']);
    await host.dockerOk(['exec', 'c3', 'ip', 'addr', 'del', '10.13.160.99/24', 'dev', 'eth0']);
    await portChecks(t, 'managed');
    t.match(await host.dockerOk(['exec', 'c1', 'ip', 'link', 'show', 'eth0']), /mtu 1400 /, 'mtu option applied');
    t.match(await host.dockerOk(['exec', 'c1', 'ip', 'route']), /default via 10\.13\.160\.1 dev eth0/, 'gateway route');
  });

  // issue 12: the plugin cannot enter containers' namespaces (no CAP_SYS_ADMIN), so a DHCP network would run
  // containers whose leases nothing renews; it is refused at create, saying why and where to look, nothing made
  await t.test('a DHCP network is refused by the managed plugin, saying why', async (t) => {
    const before = await bridges();
    const r = await host.docker(['network', 'create', '-d', DRIVER, '--ipam-driver', 'null', '--opt', 'vlan=870', '--opt', 'dhcp=on', 'mdhcp']);
    t.not(r.exitCode, 0, 'docker network create fails');
    t.match(r.stderr, /dhcp=on cannot work with this ovsvlan daemon: the daemon has no CAP_SYS_ADMIN.*run ovsvlan as a service for DHCP networks/,
      `it says why: ${r.stderr.trim()}`);
    t.equal((await host.docker(['network', 'inspect', 'mdhcp'])).exitCode, 1, 'no network');
    t.same(await bridges(), before, 'no bridge made');
  });

  await t.test('docker plugin disable is refused while networks exist', async (t) => {
    const r = await host.docker(['plugin', 'disable', PLUGIN]);
    t.not(r.exitCode, 0, 'disable fails');
    t.match(r.stderr, /in use/, `Docker says why: ${r.stderr}`);
    t.equal(await pluginEnabled(host), true, 'still enabled');
    t.ok(await ping(host, 'c2', '10.13.160.10'), 'traffic unaffected');
  });

  await t.test('dockerd restart: restart-policy containers come back on their VLAN', async (t) => {
    t.equal((await pluginPids(host)).length, 1, 'one plugin process before');
    const epBefore = await endpointId(host, 'c1', 'v860');
    const t0 = Date.now();
    await host.dockerd.restart();
    for (const c of ['c1', 'c2', 'c3']) await waitFor(`${c} running again`, () => running(host, c), 60_000);
    t.comment(`dockerd restart until c1-c3 run again: ${Date.now() - t0} ms`);
    t.equal(await pluginEnabled(host), true, 'plugin enabled again');
    t.equal((await pluginPids(host)).length, 1, 'one plugin process after');
    t.not(await endpointId(host, 'c1', 'v860'), epBefore, 'c1 was stopped and joined v860 again (new endpoint)');
    await portChecks(t, 'after restart');
    await vlanChecks(t, 'after restart');
    const again = await host.docker(['plugin', 'disable', PLUGIN]);
    t.comment(`disable without -f after a dockerd restart: exit ${again.exitCode} ${again.stderr}`);
    if (again.exitCode === 0) await host.dockerOk(['plugin', 'enable', PLUGIN]);
  });

  await t.test('disable -f stops the plugin and leaves the data plane up', async (t) => {
    await host.dockerOk(['plugin', 'disable', '-f', PLUGIN]);
    t.equal(await pluginEnabled(host), false, 'disabled');
    t.same(await pluginPids(host), [], 'no plugin process');
    t.notOk(await pluginSocketAnswers(host), 'nothing answers on its socket');
    await vlanChecks(t, 'plugin disabled');
    t.equal((await ownedPorts(host)).length, 3, 'ports still there');
  });

  await t.test('the state outlives docker plugin rm: re-created, it serves the old networks', async (t) => {
    await host.dockerOk(['plugin', 'rm', '-f', PLUGIN]);
    t.equal(await pluginEnabled(host), undefined, 'plugin gone');
    t.equal(Object.keys((await state()).networks).length, 2, 'state.json on the host keeps both networks');
    await host.dockerOk(['plugin', 'create', PLUGIN, plugin.dir]);
    await setPlugin(host, { OVSVLAN_BRIDGE: BR_B, OVSVLAN_DATAPATH: 'netdev', OVSVLAN_LOG_LEVEL: 'debug', 'state.source': host.stateDir });
    await host.dockerOk(['plugin', 'enable', PLUGIN]);
    await host.dockerOk(['run', '-d', '--name', 'c4', '--net', 'v860', '--ip', '10.13.160.14', 'busybox:local', 'sleep', '3600']);
    t.ok(await ping(host, 'c4', '10.13.160.10'), 'a new container on the old v860 reaches c1');
    const c4 = await endpointId(host, 'c4', 'v860');
    t.equal((await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-endpoint'] === c4)?.tag, 860, 'c4 tagged 860');
  });

  await t.test('cleanup through docker leaves nothing of ours', async (t) => {
    await host.dockerOk(['rm', '-f', 'c1', 'c2', 'c3', 'c4']);
    await host.dockerOk(['network', 'rm', 'v860', 'v861']);
    t.same(await ownedPorts(host), [], 'no OVS port of ours');
    t.same((await linkNames(host.ns.name)).filter((n) => /^ov[hc][0-9a-f]{12}$/.test(n)), [], 'no veth of ours');
    t.notOk((await bridges()).includes(BR_B), 'the bridge ovsvlan created is gone');
    t.same((await state()).networks, {}, 'no network left in the state');
    await host.dockerOk(['plugin', 'disable', PLUGIN]);
    await host.dockerOk(['plugin', 'rm', PLUGIN]);
    t.equal(await pluginEnabled(host), undefined, 'plugin removed');
  });
});
