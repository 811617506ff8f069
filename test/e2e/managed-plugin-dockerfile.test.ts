// Issue 5: the Dockerfile builds the plugin offline here, from a base the project makes itself
// (plugin/build-docker.sh: ovsvlan-base:local from this machine's node, ip, ethtool, busybox and
// npm, then `docker build` + `docker export` on a private dockerd with no registry and no network),
// and the plugin it yields serves a VLAN network. The full set of managed-plugin checks runs on
// the assembled build in managed-plugin.test.ts; this one proves the Dockerfile path.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import t from 'tap';
import { createHost } from '../helpers/host.js';
import { DRIVER, PLUGIN, pluginDirFromDockerfile, pluginEnabled, setPlugin, timedDocker } from '../helpers/managed.js';
import { RUN_PREFIX, run } from '../helpers/run.js';
import { endpointId, ownedPorts, ping, tcpTransfer } from '../helpers/traffic.js';

t.test('the Dockerfile builds the plugin offline, and it works', async (t) => {
  const host = await createHost('df', t);
  await mkdir(host.stateDir, { recursive: true });
  const plugin = await pluginDirFromDockerfile(host, t);
  t.comment(`plugin/build-docker.sh: ${plugin.buildMs} ms, rootfs ${plugin.size}`);
  const root = `${plugin.dir}/rootfs`;
  t.ok(existsSync(`${root}/app/dist/main.js`) && existsSync(`${root}/app/node_modules/fastify`), 'the daemon and its dependencies are in the rootfs');
  t.notOk(existsSync(`${root}/app/node_modules/typescript`) || existsSync(`${root}/app/node_modules/tap`), 'no dev dependency');
  t.notOk(existsSync(`${root}/app/src`), 'no TypeScript sources');
  for (const d of ['run/docker/plugins', 'var/run/openvswitch', 'var/lib/ovsvlan', 'tmp']) t.ok(existsSync(`${root}/${d}`), `/${d} exists`);
  t.notOk(existsSync(`${root}/usr/lib/node_modules/npm`) || existsSync(`${root}/usr/local/lib/node_modules/npm`), 'no npm left');
  // DHCP networks (issue 12) run udhcpc, both nsenters and udhcpc's hook (a /bin/sh script) in the rootfs
  for (const argv of [['busybox', 'udhcpc', '--help'], ['busybox', 'nsenter', '--help'], ['nsenter', '--version'],
    ['/bin/sh', '-c', 'test -x /app/scripts/udhcpc-hook']]) {
    const r = await run('chroot', [root, ...argv], { env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, extendEnv: false });
    t.equal(r.exitCode, 0, `chroot rootfs ${argv.join(' ')}`);
  }

  const create = await timedDocker(host, ['plugin', 'create', PLUGIN, plugin.dir]);
  await setPlugin(host, { OVSVLAN_BRIDGE: `${RUN_PREFIX}brD`, OVSVLAN_DATAPATH: 'netdev', 'state.source': host.stateDir });
  const enable = await timedDocker(host, ['plugin', 'enable', PLUGIN]);
  t.comment(`docker plugin create: ${create.ms} ms, enable: ${enable.ms} ms`);
  t.equal(await pluginEnabled(host), true, 'enabled');

  const ipam = plugin.hasIpam ? ['--ipam-driver', DRIVER] : [];
  await host.dockerOk(['network', 'create', '-d', DRIVER, ...ipam, '--opt', 'vlan=860', '--subnet', '10.13.160.0/24',
    '--gateway', '10.13.160.1', 'v860']);
  for (const [c, ip] of [['d1', '10.13.160.10'], ['d2', '10.13.160.11']] as const) {
    await host.dockerOk(['run', '-d', '--name', c, '--net', 'v860', '--ip', ip, 'busybox:local', 'sleep', '3600']);
  }
  t.ok(await ping(host, 'd1', '10.13.160.11'), 'd1 -> d2 ping');
  t.ok(await tcpTransfer(host, 'd2', '10.13.160.11', 'd1', 1_000_000), '1 MB d1 -> d2 over TCP');
  const ep = await endpointId(host, 'd1', 'v860');
  t.equal((await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-endpoint'] === ep)?.tag, 860, "d1's port has tag 860");

  await host.dockerOk(['rm', '-f', 'd1', 'd2']);
  await host.dockerOk(['network', 'rm', 'v860']);
  t.same(await ownedPorts(host), [], 'no OVS port of ours left');
});
