// Network options: every bad value fails with a message naming the option and
// what it accepts; good ones become a typed spec.
import t from 'tap';
import { parseNetworkOptions } from '../../src/driver/options.js';
import { InvalidOptionError } from '../../src/errors.js';
import { checkDhcpRequest } from '../../src/driver/dhcp-options.js';
import type { CreateNetworkReq } from '../../src/protocol/types.js';

const parse = (o: Record<string, unknown>) => parseNetworkOptions(o, 'ovs0');

const vlanSpec = { mode: 'vlan', uplink: undefined, nativeVlan: undefined, hostIp: undefined, mtu: undefined };

t.test('valid options', async (t) => {
  t.same(parse({ vlan: '860' }), { ...vlanSpec, vlan: 860, bridge: 'ovs0' });
  t.same(parse({ vlan: '1', bridge: 'br-int.2', mtu: '1400' }), { ...vlanSpec, vlan: 1, bridge: 'br-int.2', mtu: 1400 });
  t.same(parse({ vlan: '4094', 'com.docker.network.driver.mtu': '9000' }), { ...vlanSpec, vlan: 4094, bridge: 'ovs0', mtu: 9000 });
  t.same(parse({ vlan: '5', mtu: '1450', 'com.docker.network.driver.mtu': '1450' }).mtu, 1450);
  t.same(parse({ vlan: '860', uplink: 'eth1', native_vlan: '349', host_ip: '10.13.160.254/24' }),
    { ...vlanSpec, vlan: 860, bridge: 'ovs0', uplink: 'eth1', nativeVlan: 349, hostIp: '10.13.160.254/24' });
  t.same(parse({ mode: 'vxlan', vni: '5001', remote: '10.99.0.2,10.99.0.3' }),
    { mode: 'vxlan', key: 5001, remotes: ['10.99.0.2', '10.99.0.3'], mesh: false, mtu: undefined, hostIp: undefined });
  t.same(parse({ mode: 'vxlan', vni: '5001', remote: '2001:DB8:0::1' }),
    { mode: 'vxlan', key: 5001, remotes: ['2001:db8::1'], mesh: false, mtu: undefined, hostIp: undefined }, 'remotes in canonical text');
  t.same(parse({ mode: 'gre', key: '0', remote: 'fd00::2', mtu: '1400' }),
    { mode: 'gre', key: 0, remotes: ['fd00::2'], mesh: false, mtu: 1400, hostIp: undefined });
});

const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['missing vlan', {}, 'vlan', /option "vlan" is required: a VLAN ID from 1 to 4094/],
  ['vlan 0', { vlan: '0' }, 'vlan', /invalid vlan "0": must be a VLAN ID from 1 to 4094/],
  ['vlan 4095', { vlan: '4095' }, 'vlan', /invalid vlan "4095"/],
  ['vlan not a number', { vlan: 'abc' }, 'vlan', /invalid vlan "abc"/],
  ['vlan with sign', { vlan: '-5' }, 'vlan', /invalid vlan "-5"/],
  ['vlan hex', { vlan: '0x10' }, 'vlan', /invalid vlan/],
  ['unknown option', { vlan: '860', colour: '5' }, 'colour', /unknown option "colour"; ovsvlan network options are: mode, vlan, bridge, mtu/],
  ['bad mode', { mode: 'geneve' }, 'mode', /invalid mode "geneve": must be one of vlan, vxlan, gre/],
  ['vni with vlan mode', { vlan: '860', vni: '5' }, 'vni', /option "vni" does not apply to mode=vlan; it is for mode=vxlan/],
  ['key with vxlan', { mode: 'vxlan', vni: '5', key: '1', remote: '10.0.0.1' }, 'key', /option "key" does not apply to mode=vxlan/],
  ['vlan with an overlay', { mode: 'gre', vlan: '860', key: '1', remote: '10.0.0.1' }, 'vlan', /option "vlan" does not apply to mode=gre/],
  ['uplink with an overlay', { mode: 'vxlan', vni: '5', remote: '10.0.0.1', uplink: 'eth1' }, 'uplink', /does not apply to mode=vxlan/],
  ['vxlan without vni', { mode: 'vxlan', remote: '10.0.0.1' }, 'vni', /mode=vxlan needs option "vni": a VXLAN network identifier from 1 to 16777215/],
  ['vni too big', { mode: 'vxlan', vni: '16777216', remote: '10.0.0.1' }, 'vni', /invalid vni "16777216"/],
  ['gre without remote', { mode: 'gre', key: '42' }, 'remote', /mode=gre needs option "remote": .*; or run the daemon in cluster mode \(OVSVLAN_ETCD\)/],
  ['bad remote', { mode: 'gre', key: '42', remote: '10.0.0.1,host2' }, 'remote', /invalid remote "host2"/],
  ['remote twice', { mode: 'gre', key: '42', remote: '10.0.0.1,10.0.0.1' }, 'remote', /lists an address twice/],
  ['native_vlan without uplink', { vlan: '860', native_vlan: '349' }, 'native_vlan', /needs option "uplink"/],
  ['bad host_ip', { vlan: '860', host_ip: '10.0.0.1' }, 'host_ip', /invalid host_ip "10.0.0.1": must be an address with prefix length/],
  ['reserved bridge name', { vlan: '860', bridge: 'ovb0123456789ab' }, 'bridge', /not a name ovsvlan makes for itself/],
  ['bridge too long', { vlan: '860', bridge: 'abcdefghijklmnop' }, 'bridge', /invalid bridge "abcdefghijklmnop": must be an OVS bridge name of 1-15/],
  ['bridge odd chars', { vlan: '860', bridge: 'br;rm' }, 'bridge', /invalid bridge "br;rm"/],
  ['bridge with slash', { vlan: '860', bridge: 'a/b' }, 'bridge', /invalid bridge/],
  ['empty bridge', { vlan: '860', bridge: '' }, 'bridge', /invalid bridge ""/],
  ['mtu too small', { vlan: '860', mtu: '67' }, 'mtu', /invalid mtu "67": must be an MTU from 68 to 65535/],
  ['mtu too big', { vlan: '860', mtu: '70000' }, 'mtu', /invalid mtu "70000"/],
  ['docker mtu bad', { vlan: '860', 'com.docker.network.driver.mtu': 'x' }, 'com.docker.network.driver.mtu', /invalid com.docker.network.driver.mtu "x"/],
  ['mtus disagree', { vlan: '860', mtu: '1400', 'com.docker.network.driver.mtu': '1500' }, 'mtu', /disagree/],
  // issue 9, defect 5: values are read exactly as given, and repeated only as a short prefix
  ['vlan as a JSON number', { vlan: 1e3 }, 'vlan', /^option "vlan" must be a string \(Docker sends -o values as strings\), not the number "1000"/],
  ['vlan with spaces and a leading zero', { vlan: ' 010 ' }, 'vlan', /^invalid vlan " 010 ": must be a VLAN ID from 1 to 4094, in plain decimal \(no sign, spaces, exponent or leading zeros\)$/],
  ['vlan with a leading zero', { vlan: '010' }, 'vlan', /^invalid vlan "010": .*in plain decimal/],
  ['vlan with an exponent', { vlan: '1e3' }, 'vlan', /^invalid vlan "1e3": .*in plain decimal/],
  ['vlan with a plus sign', { vlan: '+5' }, 'vlan', /^invalid vlan "\+5"/],
  ['vlan in Arabic-Indic digits', { vlan: '\u0668\u0666\u0660' }, 'vlan', /^invalid vlan "\u0668\u0666\u0660"/],
  ['vlan of 30 digits', { vlan: '1'.repeat(30) }, 'vlan', /^invalid vlan "1{30}": .*plain decimal/],
  ['bridge of 3 MB', { vlan: '860', bridge: 'b'.repeat(3_000_000) }, 'bridge', /^invalid bridge "b{64}"…: must be an OVS bridge name/],
  ['bridge with a trailing space', { vlan: '860', bridge: 'br0 ' }, 'bridge', /^invalid bridge "br0 "/],
  ['unknown option of 3 MB', { vlan: '860', ['k'.repeat(3_000_000)]: '1' }, 'k'.repeat(3_000_000), /^unknown option "k{64}"…; ovsvlan network options are/],
  ['mode with a space', { mode: 'vxlan ' }, 'mode', /^invalid mode "vxlan "/],
  ['remotes with a space', { mode: 'vxlan', vni: '5', remote: '10.0.0.1, 10.0.0.2' }, 'remote', /^invalid remote " 10\.0\.0\.2": .*with no spaces$/],
  ['remote with a zone', { mode: 'vxlan', vni: '5', remote: 'fe80::1%eth0' }, 'remote', /^invalid remote "fe80::1%eth0"/],
  ['257 remotes', { mode: 'vxlan', vni: '5', remote: Array.from({ length: 257 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(',') }, 'remote', /lists 257 addresses; at most 256/],
  ['host_ip with a zone', { vlan: '860', host_ip: 'fe80::1%eth0/64' }, 'host_ip', /^invalid host_ip "fe80::1%eth0\/64"/],
  ['host_ip with a leading-zero length', { vlan: '860', host_ip: '10.0.0.1/024' }, 'host_ip', /^invalid host_ip "10\.0\.0\.1\/024"/],
  // issue 12: DHCP networks
  ['dhcp yes', { vlan: '870', dhcp: 'yes' }, 'dhcp', /^invalid dhcp "yes": must be on or off/],
  ['dhcp_gateway without dhcp=on', { vlan: '870', dhcp_gateway: 'none' }, 'dhcp_gateway', /^option "dhcp_gateway" needs -o dhcp=on$/],
  ['dhcp_release with dhcp=off', { vlan: '870', dhcp: 'off', dhcp_release: 'stop' }, 'dhcp_release', /needs -o dhcp=on/],
  ['dhcp_gateway bad', { vlan: '870', dhcp: 'on', dhcp_gateway: 'router' }, 'dhcp_gateway', /^invalid dhcp_gateway "router": must be server .* or none/],
  ['dhcp_release bad', { vlan: '870', dhcp: 'on', dhcp_release: 'never' }, 'dhcp_release', /^invalid dhcp_release "never": must be keep .*, stop .* or remove/],
  ['dhcp_timeout 0', { vlan: '870', dhcp: 'on', dhcp_timeout: '0' }, 'dhcp_timeout', /^invalid dhcp_timeout "0": must be seconds .* from 1 to 25/],
  ['dhcp_timeout 26', { vlan: '870', dhcp: 'on', dhcp_timeout: '26' }, 'dhcp_timeout', /^invalid dhcp_timeout "26"/],
  ['dhcp_timeout 1.5', { vlan: '870', dhcp: 'on', dhcp_timeout: '1.5' }, 'dhcp_timeout', /^invalid dhcp_timeout "1\.5".*plain decimal/],
  ['dhcp_subnet with host bits', { vlan: '870', dhcp: 'on', dhcp_subnet: '10.87.0.1/24' }, 'dhcp_subnet', /^invalid dhcp_subnet "10\.87\.0\.1\/24"/],
  ['dhcp_subnet IPv6', { vlan: '870', dhcp: 'on', dhcp_subnet: 'fd00::/64' }, 'dhcp_subnet', /^invalid dhcp_subnet "fd00::\/64": must be an IPv4 CIDR/],
  ['host_ip outside dhcp_subnet', { vlan: '870', dhcp: 'on', dhcp_subnet: '10.87.0.0/24', host_ip: '10.88.0.1/24' }, 'dhcp_subnet',
    /^option "host_ip" \(10\.88\.0\.1\/24\) is not inside dhcp_subnet 10\.87\.0\.0\/24/],
];

for (const [name, opts, option, message] of bad) {
  t.test(name, async (t) => {
    const err = t.throws(() => parse(opts)) as unknown;
    t.ok(err instanceof InvalidOptionError, 'InvalidOptionError');
    t.equal((err as InvalidOptionError).option, option, 'names the option');
    t.match((err as Error).message, message);
    t.ok((err as Error).message.length < 400, 'a short message');
  });
}

t.test('cluster mode: an overlay without remote= is a mesh of every host; remote= still makes a hand-made one', async (t) => {
  const cluster = (o: Record<string, unknown>) => parseNetworkOptions(o, 'ovs0', true);
  t.same(cluster({ mode: 'vxlan', vni: '5001' }), { mode: 'vxlan', key: 5001, remotes: [], mesh: true, mtu: undefined, hostIp: undefined });
  t.same(cluster({ mode: 'gre', key: '42', remote: '' }), { mode: 'gre', key: 42, remotes: [], mesh: true, mtu: undefined, hostIp: undefined });
  t.same(cluster({ mode: 'gre', key: '42', remote: '10.0.0.1' }), { mode: 'gre', key: 42, remotes: ['10.0.0.1'], mesh: false, mtu: undefined, hostIp: undefined });
  t.same(cluster({ vlan: '860' }), { ...vlanSpec, vlan: 860, bridge: 'ovs0' }, 'VLANs unchanged');
});

t.test('dhcp=on: the settings, with their defaults; dhcp=off is no DHCP', async (t) => {
  t.same(parse({ vlan: '870', dhcp: 'on' }).dhcp, { gateway: 'server', release: 'keep', timeoutS: 10, subnet: undefined });
  t.same(parse({ vlan: '870', dhcp: 'on', dhcp_gateway: 'none', dhcp_release: 'stop', dhcp_timeout: '25', dhcp_subnet: '10.87.0.0/24',
    host_ip: '10.87.0.254/24' }).dhcp, { gateway: 'none', release: 'stop', timeoutS: 25, subnet: '10.87.0.0/24' });
  t.same(parse({ mode: 'vxlan', vni: '5', remote: '10.0.0.1', dhcp: 'on', dhcp_release: 'remove' }).dhcp?.release, 'remove', 'overlays too');
  t.notOk('dhcp' in parse({ vlan: '870', dhcp: 'off' }), 'off: no dhcp in the spec');
  t.notOk('dhcp' in parse({ vlan: '870' }), 'default off');
});

t.test('dhcp=on against the request: null IPAM only, no IPv6, no gateway on an internal network', async (t) => {
  const dhcp = { gateway: 'server', release: 'keep', timeoutS: 10, subnet: undefined } as const;
  const nullPool = { addressSpace: 'null', pool: '0.0.0.0/0', gateway: undefined, aux: {} };
  const req = (over: Partial<CreateNetworkReq>): CreateNetworkReq => ({ networkId: 'n', generic: {}, internal: false, ipv4: [nullPool], ipv6: [], ...over });
  t.doesNotThrow(() => checkDhcpRequest(dhcp, req({})));
  t.doesNotThrow(() => checkDhcpRequest({ ...dhcp, gateway: 'none' }, req({ internal: true })));
  const refused: Array<[string, Partial<CreateNetworkReq>, string, RegExp, typeof dhcp | undefined]> = [
    ['default IPAM', { ipv4: [{ addressSpace: 'LocalDefault', pool: '10.87.0.0/24', gateway: '10.87.0.1/24', aux: {} }] }, 'dhcp',
      /^dhcp=on needs --ipam-driver null: .* 10\.87\.0\.0\/24 \(address space LocalDefault\); re-create it with docker network create --ipam-driver null/, undefined],
    ['no IPv4 pool', { ipv4: [] }, 'dhcp', /^dhcp=on needs --ipam-driver null: .*: none;/, undefined],
    ['--ipv6', { ipv6: [{ addressSpace: 'null', pool: '::/0', gateway: undefined, aux: {} }] }, 'dhcp', /^dhcp=on cannot be used with --ipv6: DHCPv6 is not supported/, undefined],
    ['--internal with the server\'s gateway', { internal: true }, 'dhcp_gateway', /^dhcp_gateway=server contradicts --internal/, undefined],
  ];
  for (const [name, over, option, message] of refused) {
    const err = t.throws(() => checkDhcpRequest(dhcp, req(over)), name) as InvalidOptionError;
    t.equal(err.option, option, `${name}: names ${option}`);
    t.match(err.message, message, name);
  }
});
