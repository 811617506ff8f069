// `ovsvlan doctor`'s decisions, fed what the host would show: rp_filter's
// effective value, MTUs against networks, the Docker versions that crash with
// remote drivers, trunks that miss a VLAN, the socket's mode, and the lines they print.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import t from 'tap';
import { findSocket, vswitchdVersion } from '../../src/cli/doctor-probe.js';
import {
  activateCheck, datapathCheck, dockerCheck, dockerCrashesRemoteDrivers, exitStatus, formatCheck, ovsdbCheck, socketCheck, stateCheck, vswitchdCheck,
  type Check,
} from '../../src/cli/doctor-checks.js';
import {
  carriedVlans, effectiveRpFilter, ipForwardCheck, offloadChecks, rpFilterCheck, sysctlIfName, trunkChecks, tunnelMtuCheck, tunnelsOf, uplinkMtuChecks,
} from '../../src/cli/doctor-network.js';
import { meshTunnelExternalIds } from '../../src/names.js';
import type { NetworkRecord } from '../../src/store/records.js';
import type { Inventory, InventoryPort } from '../../src/vswitch/inventory.js';

const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
const net = (over: Partial<NetworkRecord>): NetworkRecord => ({
  id: 'a'.repeat(64), mode: 'vlan', bridge: 'ovs0', vlan: 860, mtu: 1500, key: undefined, remotes: [], uplink: undefined, nativeVlan: undefined,
  hostIp: undefined, datapath: 'netdev', gatewayV4: '10.0.0.1', gatewayV6: undefined, internal: false, ...over,
});
const port = (over: Partial<InventoryPort>): InventoryPort => ({
  name: 'eth1', bridge: 'ovs0', tag: undefined, trunks: [], vlanMode: undefined, externalIds: {}, type: '', options: {}, mtu: 1500, error: undefined, ...over,
});
const inventory = (ports: InventoryPort[], over: Partial<Inventory> = {}): Inventory => ({
  ovsVersion: '3.1.0', dbVersion: '8.3.1', curCfg: 5, nextCfg: 5, datapathTypes: ['netdev', 'system'],
  bridges: [{ name: 'ovs0', datapath: 'netdev', ours: true, ports: ports.map((p) => p.name) }], ports: new Map(ports.map((p) => [p.name, p])), ...over,
});
const verdicts = (cs: Check[]): string[] => cs.map((c) => c.verdict);

t.test('rp_filter: the larger of all and the interface; strict warns with a fix for the interface', async (t) => {
  t.equal(effectiveRpFilter(0, 0), 0);
  t.equal(effectiveRpFilter(0, 1), 1);
  t.equal(effectiveRpFilter(1, 0), 1, 'all=1 makes every interface strict');
  t.equal(effectiveRpFilter(1, 2), 2, 'an interface at 2 is loose whatever all says');
  t.equal(effectiveRpFilter(2, 1), 2);
  t.equal(rpFilterCheck('ovi0', 'host_ip', 0, 0).verdict, 'PASS');
  t.equal(rpFilterCheck('ovi0', 'host_ip', 0, 2).verdict, 'PASS');
  const own = rpFilterCheck('ovi0', 'host_ip', 0, 1);
  t.equal(own.verdict, 'WARN');
  t.equal(own.fix, 'sysctl -w net.ipv4.conf.ovi0.rp_filter=2');
  const all = rpFilterCheck('ovi0', 'host_ip', 1, 0);
  t.equal(all.verdict, 'WARN', 'strict through all');
  t.match(all.detail, /net\.ipv4\.conf\.all\.rp_filter=1/, 'names all as the strict one');
  t.equal(all.fix, 'sysctl -w net.ipv4.conf.ovi0.rp_filter=2', 'setting the interface to 2 is enough: the larger wins');
  t.equal(sysctlIfName('bond0.51'), 'bond0/51', 'sysctl writes dots as slashes (seed 004)');
  t.equal(rpFilterCheck('bond0.51', 'uplink', 0, 1).fix, 'sysctl -w net.ipv4.conf.bond0/51.rp_filter=2');
  t.equal(rpFilterCheck('gone0', 'uplink', 0, undefined).verdict, 'WARN', 'a missing interface is not checked, and said');
});

t.test('uplink MTU against the largest network on it', async (t) => {
  const nets = [net({ uplink: 'eth1', mtu: 1500 }), net({ id: 'b'.repeat(64), vlan: 861, uplink: 'eth1', mtu: 9000 }), net({ id: 'c'.repeat(64), vlan: 862 })];
  const [below] = uplinkMtuChecks(nets, ok(new Map([['eth1', 1500]])));
  t.equal(below?.verdict, 'FAIL');
  t.match(below?.detail, /eth1 mtu 1500 is below 9000.*vlan 861/);
  t.equal(below?.fix, 'ip link set dev eth1 mtu 9000 (or recreate the network with --opt mtu=1500)');
  t.same(verdicts(uplinkMtuChecks(nets, ok(new Map([['eth1', 9000]])))), ['PASS'], 'equal is enough');
  t.same(verdicts(uplinkMtuChecks(nets, ok(new Map()))), ['FAIL'], 'an uplink that does not exist');
  t.same(verdicts(uplinkMtuChecks([net({})], ok(new Map()))), ['PASS'], 'no uplink, nothing to fail');
  t.same(verdicts(uplinkMtuChecks(nets, { ok: false, error: 'no ip' })), ['WARN']);
});

t.test('tunnel MTU: underlay minus the overhead (VXLAN 50, GRE 42, +20 over IPv6)', async (t) => {
  const vx = net({ mode: 'vxlan', vlan: undefined, key: 42, remotes: ['10.99.0.2'], mtu: 1450 });
  t.equal(tunnelMtuCheck(vx, '10.99.0.2', ok({ dev: 'eth0', mtu: 1500 })).verdict, 'PASS', '1500 - 50 = 1450 fits');
  const low = tunnelMtuCheck(vx, '10.99.0.2', ok({ dev: 'eth0', mtu: 1499 }));
  t.equal(low.verdict, 'FAIL');
  t.equal(low.fix, 'ip link set dev eth0 mtu 1500 (or recreate the network with --opt mtu=1449)');
  const gre = net({ mode: 'gre', vlan: undefined, key: 7, remotes: ['fd00::2'], mtu: 1438 });
  t.equal(tunnelMtuCheck(gre, 'fd00::2', ok({ dev: 'eth0', mtu: 1500 })).verdict, 'PASS', '1500 - 42 - 20 = 1438 fits');
  t.equal(tunnelMtuCheck({ ...gre, mtu: 1439 }, 'fd00::2', ok({ dev: 'eth0', mtu: 1500 })).verdict, 'FAIL');
  t.equal(tunnelMtuCheck(vx, '10.99.0.2', { ok: false, error: 'no route' }).verdict, 'FAIL', 'no route to the remote');
});

t.test('Docker 29.0.0 to 29.0.2 crash with remote drivers', async (t) => {
  for (const v of ['29.0.0', '29.0.1', '29.0.2', 'v29.0.2-rc.1']) t.ok(dockerCrashesRemoteDrivers(v), v);
  for (const v of ['29.0.3', '29.1.0', '28.5.2', '20.10.24+dfsg1', '30.0.0', 'dev']) t.notOk(dockerCrashesRemoteDrivers(v), v);
  t.equal(dockerCheck('unix:///d.sock', ok('29.0.1')).verdict, 'WARN');
  t.match(dockerCheck('unix:///d.sock', ok('29.0.1')).fix, /29\.0\.3/);
  t.equal(dockerCheck('unix:///d.sock', ok('20.10.24+dfsg1')).verdict, 'PASS');
  t.equal(dockerCheck('unix:///d.sock', { ok: false, error: 'ENOENT' }).verdict, 'FAIL');
  t.equal(dockerCheck('', undefined).verdict, 'WARN', 'Docker not configured');
});

t.test('trunks: every VLAN in use on the uplink', async (t) => {
  const want = [{ name: 'eth1', role: 'uplink' as const, bridge: 'ovs0', tag: undefined, trunks: [860, 861], networkId: 'n', endpointId: undefined }];
  t.same(verdicts(trunkChecks(want, ok(inventory([port({ trunks: [860, 861, 900] })])))), ['PASS']);
  const miss = trunkChecks(want, ok(inventory([port({ trunks: [860, 900] })])))[0];
  t.equal(miss?.verdict, 'FAIL');
  t.match(miss?.detail, /does not carry VLAN 861/);
  t.match(miss?.fix, /^ovs-vsctl set port eth1 trunks=860,861,900, or systemctl reload ovsvlan/);
  t.same(carriedVlans(port({ trunks: [] })), 'all', 'empty trunks carry every VLAN');
  t.same(carriedVlans(port({ tag: 860 })), [], 'a tag without vlan_mode is an access port');
  t.same(carriedVlans(port({ tag: 861, vlanMode: 'native-untagged', trunks: [860] })), [860, 861], 'the native VLAN is carried');
  t.same(verdicts(trunkChecks(want, ok(inventory([])))), ['FAIL'], 'uplink not on the bridge');
  t.same(verdicts(trunkChecks(want, ok(inventory([port({ bridge: 'br9', trunks: [860, 861] })])))), ['FAIL'], 'uplink on another bridge');
  t.same(verdicts(trunkChecks([], { ok: false, error: 'x' })), ['PASS'], 'no uplink in use');
});

t.test('ip_forward warns only where containers route through the host', async (t) => {
  const viaHost = net({ hostIp: '10.0.0.1/24', gatewayV4: '10.0.0.1' });
  t.equal(ipForwardCheck(0, [viaHost]).verdict, 'WARN');
  t.equal(ipForwardCheck(1, [viaHost]).verdict, 'PASS');
  const two = [net({ hostIp: '10.0.0.254/24' }), net({ id: 'b'.repeat(64), vlan: 861, hostIp: '10.1.0.254/24' })];
  const c = ipForwardCheck(0, two);
  t.equal(c.verdict, 'PASS', 'host_ip on two networks without routing between them may be meant');
  t.match(c.detail, /does not route between them/);
  t.equal(ipForwardCheck(undefined, []).verdict, 'WARN');
});

t.test('datapath: system without the module fails', async (t) => {
  t.equal(datapathCheck('system', false, undefined, new Set()).verdict, 'FAIL');
  t.equal(datapathCheck('auto', false, inventory([]), new Set(['ovs0'])).verdict, 'PASS');
  t.match(datapathCheck('auto', false, inventory([]), new Set()).detail, /userspace \(netdev\)/);
  t.equal(datapathCheck('netdev', true, inventory([], { datapathTypes: ['system'] }), new Set()).verdict, 'FAIL', 'vswitchd without netdev');
  const kernelBridge = inventory([], { bridges: [{ name: 'ovs0', datapath: 'system', ours: false, ports: [] }] });
  t.equal(datapathCheck('auto', false, kernelBridge, new Set(['ovs0'])).verdict, 'FAIL', 'a kernel bridge in use without the module');
});

t.test('ovs-vswitchd: pidfile and cur_cfg', async (t) => {
  const file = '/run/openvswitch/ovs-vswitchd.pid';
  t.equal(vswitchdCheck({ pidfile: file, pid: 42, running: true, anyOnHost: true }, inventory([])).verdict, 'PASS');
  t.equal(vswitchdCheck({ pidfile: file, pid: 42, running: true, anyOnHost: true }, inventory([], { nextCfg: 6 })).verdict, 'WARN', 'running but behind');
  t.equal(vswitchdCheck({ pidfile: file, pid: 42, running: false, anyOnHost: true }, inventory([])).verdict, 'FAIL', 'stale pidfile');
  t.equal(vswitchdCheck({ pidfile: file, pid: undefined, running: false, anyOnHost: true }, inventory([], { nextCfg: 6 })).verdict, 'FAIL');
  t.equal(vswitchdCheck({ pidfile: file, pid: undefined, running: false, anyOnHost: true }, inventory([])).verdict, 'WARN', 'cannot tell');
  const unread = vswitchdCheck({ pidfile: file, pid: 42, running: true, anyOnHost: true }, undefined);
  t.equal(unread.verdict, 'PASS', 'running, OVSDB unread');
  t.notMatch(unread.detail, /every change applied/, 'claims nothing it could not read');
  const none = vswitchdCheck({ pidfile: file, pid: undefined, running: false, anyOnHost: false }, inventory([]));
  t.equal(none.verdict, 'FAIL', 'no pidfile and no ovs-vswitchd on the host: stopped, not "cannot tell"');
  t.match(none.fix, /systemctl start openvswitch-switch/);
});

t.test('plugin socket: 0660 root, and Activate names both drivers', async (t) => {
  const stat = (mode: number, uid = 0) => ok({ path: '/p.sock', kind: 'socket' as const, mode: 0o140000 | mode, uid });
  t.equal(socketCheck('/p.sock', stat(0o660)).verdict, 'PASS');
  const open = socketCheck('/p.sock', stat(0o666));
  t.equal(open.verdict, 'WARN');
  t.equal(open.fix, 'chown root /p.sock && chmod 0660 /p.sock');
  t.equal(socketCheck('/p.sock', stat(0o660, 1000)).verdict, 'WARN');
  t.equal(socketCheck('/p.sock', ok({ path: '/p.sock', kind: 'missing', mode: 0, uid: -1 })).verdict, 'FAIL');
  const answer = (body: string, status = 200) => ok({ status, body });
  t.equal(activateCheck('/p.sock', answer('{"Implements":["NetworkDriver","IpamDriver"]}')).verdict, 'PASS');
  t.equal(activateCheck('/p.sock', answer('{"Implements":["NetworkDriver"]}')).verdict, 'FAIL');
  t.equal(activateCheck('/p.sock', answer('oops', 500)).verdict, 'FAIL');
  t.equal(activateCheck('/p.sock', { ok: false, error: 'ECONNREFUSED' }).verdict, 'FAIL');
});

t.test('tx offload: on fails with the nsenter fix; not reachable warns', async (t) => {
  const base = { endpointId: 'e'.repeat(64), container: 'web', bridge: 'ovs0' };
  t.same(verdicts(offloadChecks([], 0)), ['PASS']);
  t.same(verdicts(offloadChecks([{ ...base, tx: 'off', iface: 'eth0', pid: 7 }], 3)), ['PASS']);
  const on = offloadChecks([{ ...base, tx: 'on', iface: 'eth0', pid: 7 }], 0);
  t.same(verdicts(on), ['FAIL']);
  t.equal(on[0]?.fix, 'nsenter --net=/proc/7/ns/net ethtool -K eth0 tx off (or restart the container)');
  const unread = offloadChecks([{ ...base, tx: { notChecked: 'its veth ovh1 does not exist', fix: 'ovsvlan status shows the drift' } }], 0);
  t.same(verdicts(unread), ['WARN']);
  t.equal(unread[0]?.fix, 'ovsvlan status shows the drift', 'the fix that fits why it was not checked');
});

t.test('tunnels: the remotes a network names, and a mesh network\'s tunnel ports as OVS has them', async (t) => {
  const vx = net({ mode: 'vxlan', vlan: undefined, key: 5001, bridge: 'ovx1', remotes: ['10.0.0.2'] });
  const mesh = net({ id: 'b'.repeat(64), mode: 'vxlan', vlan: undefined, key: 5002, bridge: 'ovx2', remotes: [], mesh: true });
  const peer = (name: string, remote: string, bridge = 'ovx2', networkId = mesh.id): InventoryPort =>
    port({ name, bridge, type: 'vxlan', options: { remote_ip: remote }, externalIds: meshTunnelExternalIds(networkId, `h-${name}`) });
  const ovs = inventory([peer('t1', '10.0.0.3'), peer('t2', '10.0.0.4'), peer('t3', '10.0.0.5', 'ovx1'), peer('t4', '10.0.0.6', 'ovx2', 'c'.repeat(64))]);
  const found = tunnelsOf([vx, mesh, net({})], ovs).map(({ n, remote }) => `${n.key} ${remote}`);
  t.same(found, ['5001 10.0.0.2', '5002 10.0.0.3', '5002 10.0.0.4'], 'a mesh network\'s peers are checked too; another network\'s or bridge\'s are not');
  t.same(tunnelsOf([mesh], undefined), [], 'OVSDB unread: no mesh tunnel known');
});

t.test('the plugin socket: the path given, else a managed plugin\'s of that name one directory down', async (t) => {
  const dir = await mkdtemp(`${tmpdir()}/doctor-`);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const given = `${dir}/ovsvlan.sock`;
  t.equal(await findSocket(given), given, 'nothing anywhere: the path given');
  await mkdir(`${dir}/0123abcd`);
  await mkdir(`${dir}/other`);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(`${dir}/0123abcd/ovsvlan.sock`, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.equal(await findSocket(given), `${dir}/0123abcd/ovsvlan.sock`, 'the managed plugin\'s (Docker puts it in a directory named by the plugin ID)');
  const own = createServer();
  await new Promise<void>((resolve) => own.listen(given, resolve));
  t.teardown(() => new Promise<void>((resolve) => own.close(() => resolve())));
  t.equal(await findSocket(given), given, 'the path given wins when it exists');
});

t.test('ovsdb: the version from the database, else from the running ovs-vswitchd', async (t) => {
  t.match(ovsdbCheck('unix:/db', ok(inventory([]))).detail, /^Open vSwitch 3\.1\.0 at unix:\/db$/);
  const started = ok(inventory([], { ovsVersion: undefined }));
  t.match(ovsdbCheck('unix:/db', started, '3.1.0').detail, /^Open vSwitch 3\.1\.0 \(asked ovs-vswitchd; no ovs_version in the database\)/,
    'OVS started without ovs-ctl: the binary tells');
  t.match(ovsdbCheck('unix:/db', started).detail, /not recorded/);
  t.equal(await vswitchdVersion('/nonexistent', 2 ** 22 + 1), undefined, 'no control socket: undefined');
});

t.test('vswitchdVersion asks the control socket named by the pid, never runs the pid\'s program', async (t) => {
  const rundir = await mkdtemp(`${tmpdir()}/ovsvlan-ctl-`);
  t.teardown(() => rm(rundir, { recursive: true, force: true }));
  // This test's own PID stands for a reused one: running /proc/PID/exe --version would run node.
  t.equal(await vswitchdVersion(rundir, process.pid), undefined, 'nothing listening: undefined (node was not asked)');
  const asked: unknown[] = [];
  const server = createServer((conn) => conn.on('data', (chunk) => {
    const req = JSON.parse(chunk.toString()) as { method: string; id: number };
    asked.push(req.method);
    conn.write(JSON.stringify({ id: req.id, result: 'ovs-vswitchd (Open vSwitch) 3.1.0\n', error: null }));
  }));
  await new Promise<void>((resolve) => server.listen(`${rundir}/ovs-vswitchd.${process.pid}.ctl`, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.equal(await vswitchdVersion(rundir, process.pid), '3.1.0', 'the version ovs-vswitchd gave over its socket');
  t.same(asked, ['version'], 'one unixctl "version" request');
});

t.test('state: counted, unreadable, or a directory not there yet', async (t) => {
  t.equal(stateCheck('/var/lib/ovsvlan', true, ok({ networks: 1, endpoints: 2 })).detail, '1 network, 2 endpoints recorded in /var/lib/ovsvlan');
  const none = stateCheck('/srv/x', false, ok({ networks: 0, endpoints: 0 }));
  t.equal(none.verdict, 'PASS');
  t.match(none.detail, /\/srv\/x does not exist .*another --state-dir/, 'not "0 networks recorded in" a directory that is not there');
  t.equal(stateCheck('/srv/x', true, { ok: false, error: 'EACCES' }).verdict, 'FAIL');
});

t.test('lines and exit status', async (t) => {
  const f: Check = { verdict: 'FAIL', name: 'uplink-mtu', detail: 'eth1 mtu 1400', fix: 'ip link set dev eth1 mtu 1500' };
  t.equal(formatCheck(f), 'FAIL  uplink-mtu       eth1 mtu 1400; fix: ip link set dev eth1 mtu 1500');
  t.equal(formatCheck({ verdict: 'PASS', name: 'ovsdb', detail: 'Open vSwitch 3.1.0' }), 'PASS  ovsdb            Open vSwitch 3.1.0');
  t.equal(exitStatus([{ verdict: 'WARN', name: 'x', detail: '' }, { verdict: 'PASS', name: 'y', detail: '' }]), 0, 'warnings alone: 0');
  t.equal(exitStatus([f]), 1);
});
