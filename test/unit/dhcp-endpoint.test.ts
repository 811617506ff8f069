// The pure parts of a DHCP endpoint (src/driver/dhcp-endpoint.ts): the MAC
// ovsvlan chooses, the identity it asks with, what CreateEndpoint answers
// (never a MAC Docker gave), the refusal of a given address, and what the
// network remembers of a MAC at DeleteEndpoint (bounded; parked with
// dhcp_release=remove).
import t from 'tap';
import { MAX_KNOWN, checkDhcpEndpoint, dhcpInterface, identityOf, randomMac, rememberMac } from '../../src/driver/dhcp-endpoint.js';
import { InvalidRequestError } from '../../src/errors.js';
import type { CreateEndpointReq } from '../../src/protocol/types.js';
import type { DhcpKnown, EndpointRecord, NetworkRecord } from '../../src/store/records.js';

const NET = 'a'.repeat(64);
const net = { id: NET, mode: 'vlan', vlan: 870, dhcp: { gateway: 'server', release: 'keep', timeoutS: 10, subnet: undefined } } as unknown as NetworkRecord;
const req = (over: Partial<CreateEndpointReq> = {}): CreateEndpointReq =>
  ({ networkId: NET, endpointId: 'b'.repeat(64), addressV4: undefined, addressV6: undefined, macAddress: undefined, ...over });
const ep = (mac: string, address: string, containerId?: string): EndpointRecord => ({
  id: 'c'.repeat(64), networkId: NET, hostIf: 'ovh1', containerIf: 'ovc1', addressV4: address, addressV6: undefined, createdAt: 1,
  dhcp: { identity: identityOf(mac), lease: { address, router: undefined, serverId: undefined, leaseS: 120, at: 1 }, firstAddress: address,
    ...(containerId ? { containerId } : {}) },
});

t.test('a chosen MAC is locally administered and unicast; the identity is 01 + the MAC', async (t) => {
  for (let i = 0; i < 200; i++) {
    const mac = randomMac();
    t.match(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const first = parseInt(mac.slice(0, 2), 16);
    if ((first & 0x02) === 0 || (first & 0x01) !== 0) t.fail(`${mac} is not a local unicast MAC`);
  }
  t.same(identityOf('02:87:00:0A:00:22'), { mac: '02:87:00:0a:00:22', clientId: '010287000a0022', hostname: undefined });
});

t.test('CreateEndpoint answers the lease, and the MAC only when ovsvlan chose it', async (t) => {
  t.same(dhcpInterface(ep('02:87:00:00:00:22', '10.87.0.5/24'), req()), { address: '10.87.0.5/24', mac: '02:87:00:00:00:22' });
  t.same(dhcpInterface(ep('02:87:00:00:00:22', '10.87.0.5/24'), req({ macAddress: '02:87:00:00:00:22' })), { address: '10.87.0.5/24', mac: undefined },
    'never echoes a MAC Docker gave');
  t.equal(dhcpInterface({ ...ep('02:87:00:00:00:22', '10.87.0.5/24'), dhcp: undefined }, req()), undefined, 'nothing for a plain endpoint');
});

t.test('an address given to a DHCP endpoint is refused naming the network\'s segment', async (t) => {
  const err = t.throws(() => checkDhcpEndpoint(net, req({ addressV4: '10.87.0.9/24' }))) as InvalidRequestError;
  t.ok(err instanceof InvalidRequestError);
  t.match(err.message, /DHCP server on VLAN 870 \(dhcp=on\): an address given to the container \(10\.87\.0\.9\/24, docker run --ip\) cannot be used/);
  t.doesNotThrow(() => checkDhcpEndpoint(net, req({ macAddress: '02:87:00:00:00:22' })));
});

t.test('DeleteEndpoint: the MAC\'s address remembered, parked with dhcp_release=remove, the oldest forgotten past MAX_KNOWN', async (t) => {
  const kept = rememberMac(net, ep('02:87:00:00:00:22', '10.87.0.5/24', 'cid'));
  t.match(kept?.dhcpKnown?.['02:87:00:00:00:22'], { address: '10.87.0.5', cidr: '10.87.0.5/24', containerId: 'cid' });
  t.notOk(kept?.dhcpKnown?.['02:87:00:00:00:22']?.parked, 'keep: not parked');
  const removeNet = { ...net, dhcp: { ...net.dhcp!, release: 'remove' } } as NetworkRecord;
  t.equal(rememberMac(removeNet, ep('02:87:00:00:00:22', '10.87.0.5/24'))?.dhcpKnown?.['02:87:00:00:00:22']?.parked, true, 'remove: parked');
  const full: Record<string, DhcpKnown> = {};
  for (let i = 0; i < MAX_KNOWN; i++) full[`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`] = { address: '10.0.0.1', at: i };
  const after = rememberMac({ ...net, dhcpKnown: full }, ep('02:87:00:00:00:22', '10.87.0.5/24'));
  t.equal(Object.keys(after?.dhcpKnown ?? {}).length, MAX_KNOWN, 'bounded');
  t.ok(after?.dhcpKnown?.['02:87:00:00:00:22'], 'the newest kept');
  t.notOk(after?.dhcpKnown?.['02:00:00:00:00:00'], 'the oldest forgotten');
  t.equal(rememberMac({ ...net, dhcp: undefined } as NetworkRecord, ep('02:87:00:00:00:22', '10.87.0.5/24')), undefined, 'nothing for a plain network');
});
