// Issue 9, defects 2 and 3 for a network's host_ip port (ovi…): a port or link of its
// name that is not this network's own is refused, never taken, addressed or deleted;
// a host port's fence (link/harden.ts) never keeps out its own address. Against the
// real daemon on a private OVS in a netns, driven over its socket as Docker drives it
// (no dockerd), with sandboxes that are netns of the test's own; OVS is observed with
// ovs-vsctl and links with `ip`. The rest of ownership is test/e2e/ownership.test.ts.
import t from 'tap';
import { networkPortNames } from '../../src/names.js';
import { COLLIDING_IDS, attach, detach, idWith, ok, refused, vlanNet } from '../helpers/driver-calls.js';
import { createSocketHost } from '../helpers/socket-host.js';

t.test('ownership of host_ip ports', async (t) => {
  const host = await createSocketHost('hpo', t, { env: { OVSVLAN_SPARES: '0' } });

  await t.test('networks whose host port names collide on purpose: the second is refused, the first untouched', async (t) => {
    const [x, y] = COLLIDING_IDS;
    ok(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(x, 40, '10.66.40', { host_ip: '10.66.40.254/24' })), 'VLAN 40 with host_ip (network x)');
    const hostPort = networkPortNames(x, 0, true).host ?? '';
    refused(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(y, 41, '10.66.41', { host_ip: '10.66.41.254/24' })), 'VLAN 41 with host_ip (network y), whose host port would be x\'s',
      new RegExp(`OVS port ${hostPort} on bridge ${host.bridge} belongs to ovsvlan's host of network ${x.slice(0, 12)}`));
    t.same([(await host.port(hostPort))?.tag, (await host.port(hostPort))?.externalIds['ovsvlan-network']], [40, x], 'x\'s host port is still on VLAN 40');
    t.match(await host.ns.ip(['-br', 'addr', 'show', 'dev', hostPort]), /10\.66\.40\.254\/24/, 'with its address');
    t.equal((await host.readState()).networks[y], undefined, 'no record of y');
    ok(t, await host.call('NetworkDriver.DeleteNetwork', { NetworkID: x }), 'DeleteNetwork of x');
    t.equal(await host.port(hostPort), undefined, 'its host port goes with it');
  });

  await t.test('a link of the host_ip port\'s name that is not OVS\'s is refused, never given the address', async (t) => {
    const n = idWith('');
    const name = networkPortNames(n, 0, true).host ?? '';
    const peer = `${host.bridge.slice(0, -1)}p`;
    await host.ns.ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', peer]);
    refused(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(n, 70, '10.66.70', { host_ip: '10.66.70.254/24' })),
      'CreateNetwork whose host port name is a link someone made', new RegExp(`host_ip port ${name}: a veth interface of that name exists and is not ovsvlan's`));
    t.equal(await host.ns.ip(['-o', '-4', 'addr', 'show', 'dev', name]), '', 'the link got no address');
    t.equal(await host.port(name), undefined, 'no OVS port of that name');
    t.equal((await host.readState()).networks[n], undefined, 'no record');
    await host.ns.ip(['link', 'del', name]);
  });

  await t.test('one subnet and host_ip on two VLANs: the host port does not fence off its own address', async (t) => {
    // each host port keeps out the other networks' host_ips (link/harden.ts fenceHostPort); the same address is its own too
    const [n60, n61] = [idWith(''), idWith('')];
    ok(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(n60, 60, '10.66.60', { host_ip: '10.66.60.254/24' })), 'VLAN 60 with host_ip');
    ok(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(n61, 61, '10.66.60', { host_ip: '10.66.60.254/24' })), 'VLAN 61, same subnet and host_ip');
    const p = await attach(t, host, n60, idWith(''), '10.66.60.10', 'osame');
    t.ok(await p.box.ping('10.66.60.254'), 'a VLAN-60 container reaches the host_ip');
    await detach(t, host, n60, p);
    for (const n of [n61, n60]) ok(t, await host.call('NetworkDriver.DeleteNetwork', { NetworkID: n }), 'DeleteNetwork');
  });

  t.same(await host.ovs.vsctl(['--columns=name', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']), '', 'no port of ours left');
});
