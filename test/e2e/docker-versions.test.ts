// Issue 9, Docker 25-29: the requests newer engines send, recorded from moby's
// source (daemon/libnetwork/drivers/remote, ipams/remote, libnetwork/network.go
// ipamAllocateVersion; docs/design.md) and replayed in their order against
// the real daemon and a private OVS: only dockerd 20.10 runs on these
// machines. Each sequence does what dockerd would do with the answers (moves
// the container end into a sandbox netns made before CreateEndpoint, as 28.0
// does, names it eth0, sets the MAC, addresses and routes) and ends with
// containers pinging each other across ovsvlan; then everything is removed as
// Docker removes it, and nothing of ovsvlan's is left.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { createSocketHost, type Sandbox, type SocketHost } from '../helpers/socket-host.js';

const BUSYBOX = '/usr/bin/busybox';
const GENERIC = 'com.docker.network.generic';
const GATEWAY_REQUEST = { RequestAddressType: 'com.docker.network.gateway' };
/** The sandbox labels 28/29 send to Join and ProgramExternalConnectivity. */
const LABELS = { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] };
const id = (): string => randomBytes(32).toString('hex');

/** A call Docker makes; anything but 200 fails the sequence, as it fails Docker's operation. */
async function docker(h: SocketHost, call: string, body: object | string = ''): Promise<Record<string, unknown>> {
  const r = await h.call(call, body);
  if (r.status !== 200) throw new Error(`${call} answered ${r.status}: ${JSON.stringify(r.answer)}`);
  return r.answer;
}

interface Container {
  sandbox: Sandbox;
  endpointId: string;
  srcName: string;
  /** addresses without mask */
  v4: string | undefined;
  v6: string | undefined;
}

/**
 * `docker run` on 28.0+: the sandbox (netns) exists first; RequestAddress per
 * family, CreateEndpoint, Join, then what Docker does with Join's answer.
 */
async function run(t: Test, h: SocketHost, name: string, net: { id: string; pool4?: string; pool6?: string }, mac = ''): Promise<Container> {
  const sandbox = await h.sandbox(name);
  const ask = async (poolId: string | undefined): Promise<string> =>
    (poolId ? String((await docker(h, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null }))['Address']) : '');
  const [cidr4, cidr6] = [await ask(net.pool4), await ask(net.pool6)];
  const endpointId = id();
  const created = await docker(h, 'NetworkDriver.CreateEndpoint', {
    NetworkID: net.id, EndpointID: endpointId, Interface: { Address: cidr4, AddressIPv6: cidr6, MacAddress: mac }, Options: { 'com.docker.network.endpoint.exposedports': [] },
  });
  t.same(created, { Interface: {} }, `${name}: CreateEndpoint echoes nothing back (no address, no MAC)`);
  const before = await sandbox.ns.ip(['-o', 'link', 'show']);
  const join = await docker(h, 'NetworkDriver.Join', { NetworkID: net.id, EndpointID: endpointId, SandboxKey: `/run/netns/${sandbox.ns.name}`, Options: LABELS });
  t.equal(await sandbox.ns.ip(['-o', 'link', 'show']), before, `${name}: Join leaves the existing sandbox alone (Docker moves the link)`);
  const srcName = String((join['InterfaceName'] as Record<string, unknown>)['SrcName']);
  if (cidr6) await sandbox.ns.execOk('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
  await h.ns.ip(['link', 'set', 'dev', srcName, 'netns', sandbox.ns.name]);
  await sandbox.ns.ip(['link', 'set', 'dev', srcName, 'name', 'eth0']);
  if (mac) await sandbox.ns.ip(['link', 'set', 'dev', 'eth0', 'address', mac]);
  if (cidr4) await sandbox.ns.ip(['addr', 'add', cidr4, 'dev', 'eth0']);
  if (cidr6) await sandbox.ns.ip(['-6', 'addr', 'add', cidr6, 'dev', 'eth0', 'nodad']);
  await sandbox.ns.ip(['link', 'set', 'eth0', 'up']);
  if (typeof join['Gateway'] === 'string') await sandbox.ns.ip(['route', 'add', 'default', 'via', join['Gateway']]);
  if (typeof join['GatewayIPv6'] === 'string') await sandbox.ns.ip(['-6', 'route', 'add', 'default', 'via', join['GatewayIPv6']]);
  return { sandbox, endpointId, srcName, v4: cidr4.split('/')[0] || undefined, v6: cidr6.split('/')[0] || undefined };
}

/** `docker rm -f` on 28/29: Revoke, Leave, the link back to the host, DeleteEndpoint, ReleaseAddress. */
async function remove(h: SocketHost, net: { id: string; pool4?: string; pool6?: string }, c: Container): Promise<void> {
  const ep = { NetworkID: net.id, EndpointID: c.endpointId };
  await docker(h, 'NetworkDriver.RevokeExternalConnectivity', ep);
  await docker(h, 'NetworkDriver.Leave', ep);
  await c.sandbox.unplug(c.srcName);
  await docker(h, 'NetworkDriver.DeleteEndpoint', ep);
  if (c.v4) await docker(h, 'IpamDriver.ReleaseAddress', { PoolID: net.pool4, Address: c.v4 });
  if (c.v6) await docker(h, 'IpamDriver.ReleaseAddress', { PoolID: net.pool6, Address: c.v6 });
}

async function pings(from: Container, to: string): Promise<boolean> {
  const cmd = to.includes(':') ? 'ping6' : 'ping';
  for (let i = 0; i < 2; i++) if ((await from.sandbox.ns.exec(BUSYBOX, [cmd, '-c', '2', '-W', '2', to])).exitCode === 0) return true;
  return false;
}

/** Nothing of ovsvlan's is left: records, OVS ports, veths. */
async function nothingLeft(t: Test, h: SocketHost): Promise<void> {
  const state = await h.readState();
  t.same([Object.keys(state.networks), Object.keys(state.endpoints), Object.keys(state.pools)], [[], [], []], 'no record left');
  t.equal(await h.ovs.vsctl(['--columns=name', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']), '', 'no port of ours left');
  t.same([...(await h.links()).keys()].filter((l) => /^ov[hc]/.test(l)), [], 'no veth of ours left');
}

t.test('Docker 25-29 request sequences', async (t) => {
  const h = await createSocketHost('dv', t);

  t.match(await docker(h, 'NetworkDriver.GetCapabilities'), { Scope: 'local', ConnectivityScope: 'local', GwAllocChecker: true }, '28.0: GwAllocChecker');
  t.same(await docker(h, 'IpamDriver.GetCapabilities'), { RequiresMACAddress: false, RequiresRequestReplay: false });

  await t.test('28.0 --ipv4=false --ipv6: an IPv6-only network, end to end', async (t) => {
    const options = { [GENERIC]: { vlan: '861' }, 'com.docker.network.enable_ipv4': false, 'com.docker.network.enable_ipv6': true };
    t.same(await docker(h, 'NetworkDriver.GwAllocCheck', { Options: options }), { SkipIPv4: false, SkipIPv6: false }, 'a gateway is wanted');
    const space = String((await docker(h, 'IpamDriver.GetDefaultAddressSpaces'))['LocalDefaultAddressSpace']);
    // no IPv4 RequestPool at all
    const pool6 = String((await docker(h, 'IpamDriver.RequestPool', { AddressSpace: space, Pool: 'fd00:13:861::/64', SubPool: '', Options: {}, V6: true }))['PoolID']);
    const gw = await docker(h, 'IpamDriver.RequestAddress', { PoolID: pool6, Address: '', Options: GATEWAY_REQUEST });
    t.equal(gw['Address'], 'fd00:13:861::1/64');
    const net = { id: id(), pool6 };
    await docker(h, 'NetworkDriver.CreateNetwork', { NetworkID: net.id, Options: options, IPv4Data: [], IPv6Data: [{ AddressSpace: space, Pool: 'fd00:13:861::/64', Gateway: gw['Address'] }] });
    const a = await run(t, h, 'dv6a', net);
    const b = await run(t, h, 'dv6b', net);
    t.ok(a.v6 && !a.v4, `an IPv6 address only: ${a.v6}`);
    // 28 programs the IPv6 gateway endpoint; 29 adds no_proxy_6to4 when another endpoint holds the IPv6 gateway
    for (const c of [a, b]) {
      await docker(h, 'NetworkDriver.ProgramExternalConnectivity', { NetworkID: net.id, EndpointID: c.endpointId, Options: { ...LABELS, 'com.docker.network.driver.private.no_proxy_6to4': false } });
    }
    t.ok(await pings(a, b.v6!), `${a.v6} pings ${b.v6} over IPv6 only`);
    for (const c of [a, b]) await remove(h, net, c);
    await docker(h, 'IpamDriver.ReleaseAddress', { PoolID: pool6, Address: 'fd00:13:861::1' });
    await docker(h, 'IpamDriver.ReleasePool', { PoolID: pool6 });
    await docker(h, 'NetworkDriver.DeleteNetwork', { NetworkID: net.id });
    await nothingLeft(t, h);
  });

  await t.test('28.0 GwAllocCheck of an --internal network: no gateway reserved nor handed out; 28/29 repeat Program/Revoke', async (t) => {
    const options = { [GENERIC]: { vlan: '862' }, 'com.docker.network.internal': true, 'com.docker.network.enable_ipv4': true, 'com.docker.network.enable_ipv6': false };
    t.same(await docker(h, 'NetworkDriver.GwAllocCheck', { Options: options }), { SkipIPv4: true, SkipIPv6: true }, 'skip: the network needs no gateway');
    const space = String((await docker(h, 'IpamDriver.GetDefaultAddressSpaces'))['LocalDefaultAddressSpace']);
    const pool4 = String((await docker(h, 'IpamDriver.RequestPool', { AddressSpace: space, Pool: '10.13.162.0/24', SubPool: '', Options: {}, V6: false }))['PoolID']);
    // no gateway RequestAddress, and IPv4Data without Gateway
    const net = { id: id(), pool4 };
    await docker(h, 'NetworkDriver.CreateNetwork', { NetworkID: net.id, Options: options, IPv4Data: [{ AddressSpace: space, Pool: '10.13.162.0/24' }], IPv6Data: [] });
    const a = await run(t, h, 'dvia', net);
    const b = await run(t, h, 'dvib', net);
    t.equal(a.v4, '10.13.162.1', 'the first address goes to a container: no gateway was reserved');
    const ep = { NetworkID: net.id, EndpointID: a.endpointId };
    const program = { ...ep, Options: { ...LABELS, 'com.docker.network.driver.private.no_proxy_6to4': true } };
    for (const [call, body] of [['Program', program], ['Program', program], ['Revoke', ep], ['Revoke', ep], ['Program', program]] as const) {
      await docker(h, `NetworkDriver.${call}ExternalConnectivity`, body);
    }
    t.pass('ProgramExternalConnectivity and RevokeExternalConnectivity, each repeated, all answered');
    t.ok(await pings(a, b.v4!), `${a.v4} pings ${b.v4} with no gateway`);
    for (const c of [a, b]) await remove(h, net, c);
    await docker(h, 'IpamDriver.ReleasePool', { PoolID: pool4 });
    await docker(h, 'NetworkDriver.DeleteNetwork', { NetworkID: net.id });
    await nothingLeft(t, h);
  });

  await t.test("27.0 GetDefaultAddressSpaces before every RequestPool, retries holding earlier pools; 29.0 --subnet 0.0.0.0/26; 25.0 a MAC", async (t) => {
    const requestPool = async (pool: string): Promise<{ id: string; pool: string }> => {
      const space = String((await docker(h, 'IpamDriver.GetDefaultAddressSpaces'))['LocalDefaultAddressSpace']);
      const r = await docker(h, 'IpamDriver.RequestPool', { AddressSpace: space, Pool: pool, SubPool: '', Options: {}, V6: false });
      return { id: String(r['PoolID']), pool: String(r['Pool']) };
    };
    // a pool that overlaps a host route is held while Docker asks again: each answer is a new subnet
    const held = [await requestPool(''), await requestPool(''), await requestPool('')];
    t.same(held.map((p) => p.pool), ['10.200.0.0/24', '10.200.1.0/24', '10.200.2.0/24'], 'a new subnet while the earlier ones are held');
    const big = await requestPool('0.0.0.0/17');
    t.equal(big.pool, '10.200.128.0/17', '29.0: --subnet 0.0.0.0/17 is a /17 of the default range');
    const mine = await requestPool('0.0.0.0/26');
    t.equal(mine.pool, '10.200.3.0/26', '29.0: --subnet 0.0.0.0/26, in the first gap that fits');
    for (const p of [...held, big]) await docker(h, 'IpamDriver.ReleasePool', { PoolID: p.id });
    const gw = String((await docker(h, 'IpamDriver.RequestAddress', { PoolID: mine.id, Address: '', Options: GATEWAY_REQUEST }))['Address']);
    const net = { id: id(), pool4: mine.id };
    await docker(h, 'NetworkDriver.CreateNetwork', { NetworkID: net.id, Options: { [GENERIC]: { vlan: '863' }, 'com.docker.network.enable_ipv4': true, 'com.docker.network.enable_ipv6': false },
      IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: mine.pool, Gateway: gw }], IPv6Data: [] });
    const mac = '02:42:0a:c8:03:2a';
    const a = await run(t, h, 'dvma', net, mac);
    const b = await run(t, h, 'dvmb', net);
    t.ok(await pings(b, a.v4!), `${b.v4} pings ${a.v4}`);
    t.match(await b.sandbox.ns.ip(['neigh', 'show', a.v4!]), new RegExp(`lladdr ${mac}`), 'the container answers with the MAC it was given');
    t.match(await a.sandbox.ns.ip(['route', 'show', 'default']), /default via 10\.200\.3\.1 dev eth0/, 'the gateway route Join handed out');
    for (const c of [a, b]) await remove(h, net, c);
    await docker(h, 'IpamDriver.ReleaseAddress', { PoolID: mine.id, Address: gw.split('/')[0] });
    await docker(h, 'IpamDriver.ReleasePool', { PoolID: mine.id });
    await docker(h, 'NetworkDriver.DeleteNetwork', { NetworkID: net.id });
    await nothingLeft(t, h);
  });
});
