// Issue 9, defect 5: requests with a field of the wrong type, form or length,
// sent to the real daemon over its socket as dockerd sends them, next to a
// network and an endpoint that valid calls made on a private OVS. Each one is
// refused with 500 {"Err"} that names the field (or option) and the form it
// must have, repeats at most a short prefix of what was sent, and changes
// nothing: the state file, OVS (`ovs-vsctl show`) and the links are as before.
// The daemon's log never holds a long run of what was sent. The valid calls
// around them keep working, and removing what they made leaves nothing.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createSocketHost, type SocketHost } from '../helpers/socket-host.js';
import { RUN_DIR } from '../helpers/run.js';

const id = (): string => randomBytes(32).toString('hex');
const HUGE = (c: string): string => c.repeat(3_000_000);
/** Marks in the huge values: the log must hold no run of them longer than an error may repeat. */
const MARKS = ['Q', 'W', 'Z', 'J', 'X'] as const;
const GENERIC = 'com.docker.network.generic';

/** What a user observes of ovsvlan: its records, OVS and the host's links. */
async function snapshot(h: SocketHost): Promise<string> {
  const state = JSON.stringify(await h.readState()); // snapshot and journal, as the daemon loads them
  return `${state}\n${await h.ovs.vsctl(['show'])}\n${[...(await h.links()).keys()].sort().join(' ')}`;
}

interface Case {
  name: string;
  call: string;
  /** an object is sent as JSON, a string as is */
  body: object | string;
  err: RegExp;
  status?: number;
}

t.test('hostile requests are refused, say what is wrong, and change nothing', async (t) => {
  const h = await createSocketHost('hos', t);
  const net = id();
  const ep = id();
  const ok = async (call: string, body: object): Promise<Record<string, unknown>> => {
    const r = await h.call(call, body);
    if (r.status !== 200) throw new Error(`${call}: ${r.status} ${JSON.stringify(r.answer)}`);
    return r.answer;
  };
  // what `docker network create --ipam-driver ovsvlan --subnet 10.13.150.0/24 -o vlan=850` and `docker run` send
  const pool = String((await ok('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: '10.13.150.0/24', SubPool: '', Options: {}, V6: false }))['PoolID']);
  const gateway = String((await ok('IpamDriver.RequestAddress', { PoolID: pool, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }))['Address']);
  await ok('NetworkDriver.CreateNetwork', { NetworkID: net, Options: { [GENERIC]: { vlan: '850' }, 'com.docker.network.enable_ipv6': false },
    IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: '10.13.150.0/24', Gateway: gateway }], IPv6Data: [] });
  const address = String((await ok('IpamDriver.RequestAddress', { PoolID: pool, Address: '', Options: null }))['Address']);
  await ok('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  // the network's spares are made in the background after CreateNetwork and CreateEndpoint: let them settle
  for (let i = 0, last = ''; i < 50; i++) {
    const now = await snapshot(h);
    if (now === last) break;
    last = now;
    await new Promise((r) => setTimeout(r, 200));
  }
  const logFile = `${RUN_DIR}/ovsvlan-hos.log`;
  const logBefore = (await stat(logFile)).size;

  const network = (generic: object, data: object[] = [{ AddressSpace: 'x', Pool: '10.13.151.0/24', Gateway: '10.13.151.1/24' }]): object =>
    ({ NetworkID: id(), Options: { [GENERIC]: generic }, IPv4Data: data, IPv6Data: [] });
  const endpoint = (iface: object, endpointId: unknown = id()): object => ({ NetworkID: net, EndpointID: endpointId, Interface: iface, Options: {} });
  // the live endpoint's host end: a port of the bridge a hostile network may name as its uplink
  const epPort = (await h.ovs.vsctl(['--bare', '--columns=name', 'find', 'Port', `external_ids:ovsvlan-endpoint=${ep}`])).trim();
  if (!/^ov/.test(epPort)) throw new Error(`no port of endpoint ${ep}: "${epPort}"`);
  const cases: Case[] = [
    // the body itself
    { name: 'not JSON', call: 'NetworkDriver.CreateNetwork', body: 'vlan=5', err: /^request body is not JSON$/ },
    { name: 'truncated JSON', call: 'NetworkDriver.CreateEndpoint', body: JSON.stringify(endpoint({ Address: '10.13.150.9/24' })).slice(0, 90), err: /^request body is not JSON$/ },
    { name: 'a JSON list', call: 'NetworkDriver.Join', body: '[1,2,3]', err: /^request body is not a JSON object$/ },
    { name: 'an empty body (a retried call)', call: 'NetworkDriver.DeleteEndpoint', body: '', err: /^request has no NetworkID$/ },
    { name: 'a body of 1.2 million keys', call: 'NetworkDriver.Join', body: `{${Array.from({ length: 1_200_000 }, (_, i) => `"${i}":0`).join(',')}}`,
      err: /^request body holds an object of more than 4096 keys; Docker sends no such body$/ },
    { name: 'a body of 5 million nested lists', call: 'NetworkDriver.CreateEndpoint', body: `{"Options":${'['.repeat(5_000_000)}${']'.repeat(5_000_000)}}`,
      err: /^request body holds lists or objects nested deeper than 512 levels; Docker sends no such body$/ },
    { name: 'a body over 16 MiB', call: 'NetworkDriver.CreateEndpoint', body: JSON.stringify({ Options: { x: 'y'.repeat(17 * 1024 * 1024) } }), err: /^request body is larger than 16 MiB$/ },
    { name: 'a path of 10 kB', call: `NetworkDriver.${'X'.repeat(10_000)}`, body: '{}', err: /^"\/NetworkDriver\.X{49}"… is not implemented by ovsvlan$/, status: 404 },
    { name: 'a path that is no URL', call: `NetworkDriver.Join%zz${'X'.repeat(1000)}`, body: '{}', err: /^"\/NetworkDriver\.Join%zzX{42}"… is not a valid request path$/ },
    // IDs
    { name: 'NetworkID of 3 MB', call: 'NetworkDriver.CreateNetwork', body: { ...network({ vlan: '851' }), NetworkID: HUGE('Q') }, err: /^NetworkID must be a Docker network ID: .*; got "Q{64}"…$/ },
    { name: 'EndpointID of 3 MB', call: 'NetworkDriver.CreateEndpoint', body: endpoint({ Address: '10.13.150.9/24' }, HUGE('W')), err: /^EndpointID must be a Docker endpoint ID: 64 lowercase hexadecimal characters; got "W{64}"…$/ },
    { name: 'NetworkID a number', call: 'NetworkDriver.Join', body: { NetworkID: 5, EndpointID: ep, SandboxKey: '/x' }, err: /^NetworkID must be a string, not the number 5$/ },
    { name: 'EndpointID null', call: 'NetworkDriver.Join', body: { NetworkID: net, EndpointID: null }, err: /^request has no EndpointID$/ },
    { name: 'EndpointID a list', call: 'NetworkDriver.DeleteEndpoint', body: { NetworkID: net, EndpointID: [ep] }, err: /^EndpointID must be a string, not a list$/ },
    { name: 'EndpointID of 12 characters', call: 'NetworkDriver.DeleteEndpoint', body: { NetworkID: net, EndpointID: ep.slice(0, 12) }, err: /^EndpointID must be a Docker endpoint ID/ },
    { name: 'EndpointID in upper case', call: 'NetworkDriver.DeleteEndpoint', body: { NetworkID: net, EndpointID: ep.toUpperCase() }, err: /^EndpointID must be a Docker endpoint ID/ },
    { name: 'EndpointID with unicode', call: 'NetworkDriver.Leave', body: { NetworkID: net, EndpointID: `${ep.slice(0, 62)}é\u202e` }, err: /^EndpointID must be a Docker endpoint ID.*; got "[0-9a-f]{62}é\\u202e"$/ },
    { name: 'NetworkID with a path', call: 'NetworkDriver.DeleteNetwork', body: { NetworkID: `../../${net}` }, err: /^NetworkID must be a Docker network ID/ },
    { name: 'PoolID made up', call: 'IpamDriver.ReleasePool', body: { PoolID: HUGE('Z') }, err: /^PoolID must be a PoolID that RequestPool answered, e\.g\. 10\.1\.0\.0\/24#0123abcd; got "Z{64}"…$/ },
    { name: 'PoolID a number', call: 'IpamDriver.RequestAddress', body: { PoolID: 7, Address: '' }, err: /^PoolID must be a string, not the number 7$/ },
    // network options: a field of the wrong type is not "missing", numbers are exact, values are never repeated whole
    { name: 'vlan a JSON number (1e3)', call: 'NetworkDriver.CreateNetwork', body: `{"NetworkID":"${id()}","Options":{"${GENERIC}":{"vlan":1e3}},"IPv4Data":[],"IPv6Data":[]}`,
      err: /^Options\.com\.docker\.network\.generic\["vlan"\] must be a string, not the number 1000$/ },
    { name: 'vlan " 010 "', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: ' 010 ' }), err: /^invalid vlan " 010 ": must be a VLAN ID from 1 to 4094, in plain decimal/ },
    { name: 'host_ip IPv6 on an IPv4-only network', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '853', host_ip: 'fd00::9/64' }),
      err: /^option "host_ip": fd00::9\/64 is an IPv6 address but the network has no IPv6 subnet \(its subnets: 10\.13\.151\.0\/24\)$/ },
    { name: 'vlan "010"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '010' }), err: /^invalid vlan "010"/ },
    { name: 'vlan "8.5e2"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '8.5e2' }), err: /^invalid vlan "8\.5e2"/ },
    { name: 'mtu "0x5dc"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '852', mtu: '0x5dc' }), err: /^invalid mtu "0x5dc"/ },
    { name: 'bridge of 3 MB', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '853', bridge: HUGE('J') }), err: /^invalid bridge "J{64}"…: must be an OVS bridge name of 1-15/ },
    { name: 'bridge "$(id)"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '853', bridge: '$(id)' }), err: /^invalid bridge "\$\(id\)"/ },
    { name: 'an option named by 3 MB', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '854', [HUGE('X')]: '1' }), err: /^unknown option "X{64}"…; ovsvlan network options are/ },
    { name: 'remote with spaces', call: 'NetworkDriver.CreateNetwork', body: network({ mode: 'vxlan', vni: '77', remote: '10.99.0.1, 10.99.0.2' }), err: /^invalid remote " 10\.99\.0\.2"/ },
    { name: 'host_ip with a zone', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '855', host_ip: 'fe80::1%lo/64' }), err: /^invalid host_ip "fe80::1%lo\/64"/ },
    { name: 'Options a string', call: 'NetworkDriver.CreateNetwork', body: { NetworkID: id(), Options: 'vlan=856' }, err: /^Options must be a JSON object, not "vlan=856"$/ },
    { name: 'internal "true"', call: 'NetworkDriver.CreateNetwork', body: { NetworkID: id(), Options: { 'com.docker.network.internal': 'true' } }, err: /^Options\.com\.docker\.network\.internal must be true or false, not "true"$/ },
    { name: 'GwAllocCheck with Options a list', call: 'NetworkDriver.GwAllocCheck', body: { Options: [] }, err: /^Options must be a JSON object, not a list$/ },
    // IPAM data of CreateNetwork
    { name: 'Gateway "$(id)/99"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '857' }, [{ Pool: '10.13.151.0/24', Gateway: '$(id)/99' }]),
      err: /^IPv4Data\[0\]\.Gateway must be an IPv4 address with prefix length, e\.g\. 10\.1\.0\.5\/24; got "\$\(id\)\/99"$/ },
    { name: 'Gateway outside its pool', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '857' }, [{ Pool: '10.13.151.0/24', Gateway: '10.13.152.1/24' }]),
      err: /^IPv4Data\[0\]\.Gateway must be an address inside Pool 10\.13\.151\.0\/24/ },
    { name: 'Gateway without prefix length', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '857' }, [{ Pool: '10.13.151.0/24', Gateway: '10.13.151.1' }]), err: /^IPv4Data\[0\]\.Gateway must be an IPv4 address with prefix length/ },
    { name: 'an IPv6 pool in IPv4Data', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '857' }, [{ Pool: 'fd00:13::/64' }]), err: /^IPv4Data\[0\]\.Pool must be an IPv4 CIDR/ },
    { name: 'a pool with host bits', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '857' }, [{ Pool: '10.13.151.7/24' }]), err: /^IPv4Data\[0\]\.Pool must be an IPv4 CIDR with no host bits set/ },
    { name: 'IPv4Data an object', call: 'NetworkDriver.CreateNetwork', body: { NetworkID: id(), Options: { [GENERIC]: { vlan: '857' } }, IPv4Data: { Pool: '10.13.151.0/24' } }, err: /^IPv4Data must be a list, not a JSON object$/ },
    { name: 'an aux address of 3 MB', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '857' }, [{ Pool: '10.13.151.0/24', AuxAddresses: { a: HUGE('Q') } }]),
      err: /^IPv4Data\[0\]\.AuxAddresses\.a must be an IPv4 address with prefix length.*; got "Q{64}"…$/ },
    // endpoints
    { name: 'endpoint Address without prefix length', call: 'NetworkDriver.CreateEndpoint', body: endpoint({ Address: '10.13.150.9' }), err: /^Interface\.Address must be an IPv4 address with prefix length/ },
    { name: 'endpoint Address "$(id)"', call: 'NetworkDriver.CreateEndpoint', body: endpoint({ Address: '$(id)' }), err: /^Interface\.Address must be an IPv4 address/ },
    { name: 'endpoint AddressIPv6 of IPv4', call: 'NetworkDriver.CreateEndpoint', body: endpoint({ AddressIPv6: '10.13.150.9/24' }), err: /^Interface\.AddressIPv6 must be an IPv6 address/ },
    { name: 'endpoint Interface a string', call: 'NetworkDriver.CreateEndpoint', body: endpoint('eth0' as unknown as object), err: /^Interface must be a JSON object, not "eth0"$/ },
    { name: 'endpoint MacAddress not a MAC', call: 'NetworkDriver.CreateEndpoint', body: endpoint({ Address: '10.13.150.9/24', MacAddress: 'de:ad:be:ef' }), err: /^Interface\.MacAddress must be a MAC address/ },
    { name: 'Join SandboxKey relative', call: 'NetworkDriver.Join', body: { NetworkID: net, EndpointID: ep, SandboxKey: 'run/netns/x', Options: {} }, err: /^SandboxKey must be an absolute path/ },
    { name: 'ProgramExternalConnectivity Options a number', call: 'NetworkDriver.ProgramExternalConnectivity', body: { NetworkID: net, EndpointID: ep, Options: 6 }, err: /^Options must be a JSON object, not the number 6$/ },
    // IPAM calls
    { name: 'RequestAddress in CIDR form', call: 'IpamDriver.RequestAddress', body: { PoolID: pool, Address: '10.13.150.20/24', Options: null },
      err: /^Address must be an IP address without prefix length, e\.g\. 10\.1\.0\.5 or fd00::5 \(no \/length: Docker sends the plain address\); got "10\.13\.150\.20\/24"$/ },
    { name: 'ReleaseAddress in CIDR form (the lease stays)', call: 'IpamDriver.ReleaseAddress', body: { PoolID: pool, Address: address }, err: /^Address must be an IP address without prefix length/ },
    { name: 'ReleaseAddress with a zone', call: 'IpamDriver.ReleaseAddress', body: { PoolID: pool, Address: 'fe80::1%eth0' }, err: /^Address must be an IP address without prefix length/ },
    { name: 'RequestAddress Options value a list', call: 'IpamDriver.RequestAddress', body: { PoolID: pool, Address: '', Options: { RequestAddressType: ['com.docker.network.gateway'] } },
      err: /^Options\["RequestAddressType"\] must be a string, not a list$/ },
    { name: 'RequestPool V6 "false"', call: 'IpamDriver.RequestPool', body: { AddressSpace: 'ovsvlan-local', Pool: '', SubPool: '', V6: 'false' }, err: /^V6 must be true or false, not "false"$/ },
    { name: 'RequestPool of another address space', call: 'IpamDriver.RequestPool', body: { AddressSpace: HUGE('Z'), Pool: '', V6: false }, err: /^AddressSpace must be ovsvlan-local or ovsvlan-global .*; got "Z{64}"…$/ },
    { name: 'RequestPool Pool with a trailing newline', call: 'IpamDriver.RequestPool', body: { AddressSpace: 'ovsvlan-local', Pool: '10.13.160.0/24\n', V6: false }, err: /^Pool must be an IPv4 CIDR with no host bits set.*; got "10\.13\.160\.0\/24\\n"$/ },
    // names and addresses that are well formed but no bridge, uplink, remote or host_ip may be
    { name: 'bridge "ovs-netdev" (the userspace datapath\'s device)', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '858', bridge: 'ovs-netdev' }),
      err: /^invalid bridge "ovs-netdev": .*nor ovs-system or ovs-netdev \(Open vSwitch's own datapath devices\)$/ },
    { name: 'bridge "ovs-system"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '858', bridge: 'ovs-system' }), err: /^invalid bridge "ovs-system"/ },
    { name: 'uplink a live endpoint\'s port on the same bridge', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '858', uplink: epPort }),
      err: new RegExp(`^invalid uplink "${epPort}": must be the name of an existing interface .*a name ovsvlan makes for itself`) },
    { name: 'uplink "lo"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '858', uplink: 'lo' }), err: /^invalid uplink "lo": .*not lo, the bridge itself/ },
    { name: 'uplink the bridge itself', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '858', bridge: 'hostilebr', uplink: 'hostilebr' }), err: /^invalid uplink "hostilebr"/ },
    { name: 'uplink "ovs-netdev"', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '858', uplink: 'ovs-netdev' }), err: /^invalid uplink "ovs-netdev"/ },
    { name: 'remote 0.0.0.0', call: 'NetworkDriver.CreateNetwork', body: network({ mode: 'vxlan', vni: '78', remote: '0.0.0.0' }),
      err: /^invalid remote "0\.0\.0\.0": must be another host's unicast address, not an unspecified, loopback, multicast or broadcast one$/ },
    { name: 'remote 127.0.0.1 after a good one', call: 'NetworkDriver.CreateNetwork', body: network({ mode: 'gre', key: '78', remote: '10.99.0.1,127.0.0.1' }), err: /^invalid remote "127\.0\.0\.1"/ },
    { name: 'remote multicast 239.1.1.1', call: 'NetworkDriver.CreateNetwork', body: network({ mode: 'vxlan', vni: '78', remote: '239.1.1.1' }), err: /^invalid remote "239\.1\.1\.1"/ },
    { name: 'remote 255.255.255.255', call: 'NetworkDriver.CreateNetwork', body: network({ mode: 'vxlan', vni: '78', remote: '255.255.255.255' }), err: /^invalid remote "255\.255\.255\.255"/ },
    { name: 'remote ::', call: 'NetworkDriver.CreateNetwork', body: network({ mode: 'vxlan', vni: '78', remote: '::' }), err: /^invalid remote "::"/ },
    { name: 'remote ff02::1', call: 'NetworkDriver.CreateNetwork', body: network({ mode: 'vxlan', vni: '78', remote: 'FF02::1' }), err: /^invalid remote "ff02::1"/ },
    { name: 'host_ip outside the subnet', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '859', host_ip: '10.99.0.1/24' }),
      err: /^option "host_ip": 10\.99\.0\.1\/24 is not inside the network's subnets \(10\.13\.151\.0\/24\); give an address of one of them$/ },
    { name: 'host_ip the broadcast address', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '859', host_ip: '10.13.151.255/24' }),
      err: /^option "host_ip": 10\.13\.151\.255\/24 is the network or broadcast address of 10\.13\.151\.0\/24$/ },
    { name: 'host_ip the network address', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '859', host_ip: '10.13.151.0/24' }), err: /^option "host_ip": 10\.13\.151\.0\/24 is the network or broadcast/ },
    { name: 'host_ip with a shorter prefix than its subnet', call: 'NetworkDriver.CreateNetwork', body: network({ vlan: '859', host_ip: '10.13.151.9/8' }),
      err: /^option "host_ip": 10\.13\.151\.9\/8 must have the prefix length of its subnet 10\.13\.151\.0\/24 \(\/24\)$/ },
    { name: 'RequestPool SubPool outside Pool', call: 'IpamDriver.RequestPool', body: { AddressSpace: 'ovsvlan-local', Pool: '10.13.160.0/24', SubPool: '10.13.161.0/25', V6: false }, err: /^invalid ip-range "10\.13\.161\.0\/25": must be a CIDR inside subnet 10\.13\.160\.0\/24$/ },
  ];

  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const before = await snapshot(h);
      const r = await h.call(c.call, c.body);
      t.equal(r.status, c.status ?? 500, `answered ${c.status ?? 500}`);
      const err = String(r.answer['Err']);
      t.match(err, c.err, 'the error names the field and its form');
      t.ok(err.length < 400, `the error is short (${err.length} characters)`);
      t.equal(await snapshot(h), before, 'nothing changed: state file, OVS, links');
    });
  }
  t.ok(cases.length >= 40, `${cases.length} hostile cases`);

  await t.test('the log holds no run of what was sent, and no long line', async (t) => {
    const log = (await readFile(logFile, 'utf8')).slice(logBefore);
    const long = log.split('\n').filter((l) => l.length > 2000);
    t.same(long.map((l) => l.slice(0, 200)), [], 'no log line over 2000 characters');
    for (const m of MARKS) t.notOk(log.includes(m.repeat(65)), `no run of ${m} longer than 64`);
    t.ok(log.length < 200_000, `the hostile requests wrote ${log.length} bytes of log`);
  });

  await t.test('a host_ip inside an ovsvlan pool is the host\'s: refused when a container holds it, else never handed out', async (t) => {
    const subnet = '10.13.153';
    const p = String((await ok('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: `${subnet}.0/24`, SubPool: '', Options: {}, V6: false }))['PoolID']);
    const gw = String((await ok('IpamDriver.RequestAddress', { PoolID: p, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }))['Address']);
    const held = String((await ok('IpamDriver.RequestAddress', { PoolID: p, Address: '', Options: null }))['Address']);
    t.equal(held, `${subnet}.2/24`, 'a container was handed .2');
    const create = (netId: string, hostIp: string): Promise<{ status: number; answer: Record<string, unknown> }> => h.call('NetworkDriver.CreateNetwork', {
      NetworkID: netId, Options: { [GENERIC]: { vlan: '859', host_ip: hostIp } }, IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: `${subnet}.0/24`, Gateway: gw }], IPv6Data: [] });
    const before = await snapshot(h);
    const refused = await create(id(), held);
    t.equal(refused.status, 500, 'CreateNetwork with the container\'s address as host_ip is refused');
    t.match(String(refused.answer['Err']), /^option "host_ip": 10\.13\.153\.2 is already in use in 10\.13\.153\.0\/24 \(by a container\)/, 'naming host_ip and who holds it');
    // made, then taken back: the state's save counter moved on, nothing else
    const unsaved = (snap: string): string => snap.replace(/^\{"version":(\d+),"seq":\d+,/, '{"version":$1,');
    t.equal(unsaved(await snapshot(h)), unsaved(before), 'nothing left of it: state file, OVS (no host port), links');

    const netB = id();
    t.equal((await create(netB, `${subnet}.3/24`)).status, 200, 'host_ip .3, next in line, is taken');
    const next = await h.call('IpamDriver.RequestAddress', { PoolID: p, Address: '', Options: null });
    t.equal(next.answer['Address'], `${subnet}.4/24`, 'the next container gets .4, not the host\'s .3');
    const wanted = await h.call('IpamDriver.RequestAddress', { PoolID: p, Address: `${subnet}.3`, Options: null });
    t.equal(wanted.status, 500, '--ip of the host\'s address is refused');
    t.match(String(wanted.answer['Err']), /^address 10\.13\.153\.3 is already in use in 10\.13\.153\.0\/24 \(as host address\)$/);
    for (const a of [held, String(next.answer['Address']), gw]) await ok('IpamDriver.ReleaseAddress', { PoolID: p, Address: a.split('/')[0] ?? '' });
    await ok('NetworkDriver.DeleteNetwork', { NetworkID: netB });
    await ok('IpamDriver.ReleasePool', { PoolID: p });

    // as a careful user does with Docker's IPAM: --aux-address host=… too; Docker asks for it (pending) before CreateNetwork
    const p2 = String((await ok('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: '10.13.154.0/24', SubPool: '', Options: {}, V6: false }))['PoolID']);
    const gw2 = String((await ok('IpamDriver.RequestAddress', { PoolID: p2, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }))['Address']);
    await ok('IpamDriver.RequestAddress', { PoolID: p2, Address: '10.13.154.254', Options: null });
    const netC = id();
    await ok('NetworkDriver.CreateNetwork', { NetworkID: netC, Options: { [GENERIC]: { vlan: '859', host_ip: '10.13.154.254/24' } },
      IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: '10.13.154.0/24', Gateway: gw2, AuxAddresses: { host: '10.13.154.254/24' } }], IPv6Data: [] });
    t.pass('a host_ip also given as --aux-address is taken');
    await ok('NetworkDriver.DeleteNetwork', { NetworkID: netC });
    await ok('IpamDriver.ReleasePool', { PoolID: p2 });
  });

  await t.test('the valid calls still work, and removing what they made leaves nothing', async (t) => {
    const join = await ok('NetworkDriver.Join', { NetworkID: net, EndpointID: ep, SandboxKey: '/var/run/docker/netns/0123456789ab', Options: {} });
    t.same(join['Gateway'], gateway.split('/')[0], 'Join hands the gateway');
    await ok('NetworkDriver.Leave', { NetworkID: net, EndpointID: ep });
    await ok('NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: ep });
    await ok('IpamDriver.ReleaseAddress', { PoolID: pool, Address: address.split('/')[0] ?? '' });
    await ok('IpamDriver.ReleaseAddress', { PoolID: pool, Address: gateway.split('/')[0] ?? '' });
    await ok('IpamDriver.ReleasePool', { PoolID: pool });
    await ok('NetworkDriver.DeleteNetwork', { NetworkID: net });
    const state = await h.readState();
    t.same([Object.keys(state.networks), Object.keys(state.endpoints), Object.keys(state.pools)], [[], [], []], 'no record left');
    t.equal(await h.ovs.vsctl(['--columns=name', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']), '', 'no port of ours left');
    t.same([...(await h.links()).keys()].filter((l) => /^ov[hc]/.test(l)), [], 'no veth of ours left');
  });
});
