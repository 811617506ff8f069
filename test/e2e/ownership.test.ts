// Issue 9, defects 2, 3, 4 and 7: links and ports that cannot be shared or stolen, every
// call checks its network, creates undo all they made, DeleteNetwork takes stale endpoints
// with it. Against the real daemon on a private OVS in a netns, driven over its socket as
// Docker drives it (no dockerd: requests are sent in Docker's order), with sandboxes that
// are netns of the test's own; OVS is observed with ovs-vsctl and links with `ip`.
// Collisions are made both ways: IDs that share their first characters (the old names
// kept 12 of an endpoint's, 10 of a network's), and two IDs whose SHA-256 agree on the
// 48 bits a name keeps (found offline, see COLLIDING_IDS).
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import { linkMark, networkPortNames, overlayBridgeName, vethNames } from '../../src/names.js';
import { COLLIDING_IDS, attach, detach, endpoint, epReq, hex, idWith, joinReq, ok, refused, vlanNet, type Plugged } from '../helpers/driver-calls.js';
import { runOk, waitFor } from '../helpers/run.js';
import { createSocketHost, type SocketHost } from '../helpers/socket-host.js';

const overlayNet = (id: string, vni: number): object => ({
  NetworkID: id, Options: { 'com.docker.network.generic': { mode: 'vxlan', vni: String(vni), remote: '192.0.2.1,192.0.2.2', mtu: '1450' } },
  IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.66.99.0/24', Gateway: '10.66.99.1/24' }], IPv6Data: [],
});

/** Runs `fn` with our own ovs-vswitchd stopped (SIGSTOP by its PID), and lets it go on whatever happens. */
async function withVswitchdPaused<T>(host: SocketHost, fn: () => Promise<T>): Promise<T> {
  const pid = await host.vswitchdPid();
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

t.test('ownership of links and ports', async (t) => {
  // the names a pair made for one endpoint gets, from its ID: the path CreateEndpoint takes with no spare
  // ready (spares have random names; test/e2e/fastpath*.test.ts checks them)
  const host = await createSocketHost('own', t, { env: { OVSVLAN_SPARES: '0' } });
  const N30 = idWith('');
  const N121 = idWith('');
  ok(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(N30, 30, '10.66.30')), 'VLAN 30');
  ok(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(N121, 121, '10.66.121')), 'VLAN 121');
  const prefix = hex(12);
  const plugged: Plugged[] = [];

  await t.test('endpoint IDs sharing 12 characters get their own veth and port; deleting one leaves the others talking', async (t) => {
    for (const i of [0, 1, 2]) plugged.push(await attach(t, host, N30, idWith(prefix), `10.66.30.${10 + i}`, `ob${i}`));
    const state = await host.readState();
    const hostIfs = plugged.map((p) => String(state.endpoints[p.ep]?.['hostIf']));
    t.equal(new Set(hostIfs).size, 3, `three veths: ${hostIfs.join(', ')}`);
    for (const [i, name] of hostIfs.entries()) {
      const port = await host.port(name);
      t.same([port?.bridge, port?.tag, port?.externalIds['ovsvlan-endpoint']], [host.bridge, 30, plugged[i]?.ep], `${name}: on ${host.bridge}, tag 30, its own endpoint's`);
      t.equal((await host.links()).get(name)?.alias, linkMark(plugged[i]?.ep ?? ''), `${name}: marked with its endpoint's ID`);
    }
    const [a, b, c] = plugged as [Plugged, Plugged, Plugged];
    t.ok(await a.box.ping(b.ip), 'first → second');
    t.ok(await a.box.ping(c.ip), 'first → third');
    await detach(t, host, N30, b);
    t.equal(await host.port(hostIfs[1] ?? ''), undefined, 'the deleted endpoint\'s port is gone');
    t.notOk((await host.links()).has(hostIfs[1] ?? ''), 'and its veth');
    for (const name of [hostIfs[0], hostIfs[2]]) t.equal((await host.port(name ?? ''))?.tag, 30, `${name} stays`);
    t.ok(await a.box.ping(c.ip), 'the others still talk');
    plugged.splice(1, 1);
  });

  await t.test('DeleteEndpoint of an unknown ID removes nothing of a live endpoint, even one of the very same names', async (t) => {
    ok(t, await host.call('NetworkDriver.DeleteEndpoint', epReq(N30, idWith(prefix))), 'DeleteEndpoint of an unknown ID sharing 12 characters');
    const [x, y] = COLLIDING_IDS;
    const live = await attach(t, host, N30, x, '10.66.30.20', 'ox');
    const name = vethNames(x).host;
    t.equal(vethNames(y).host, name, `${y.slice(0, 12)}… would be named ${name} too`);
    ok(t, await host.call('NetworkDriver.DeleteEndpoint', epReq(N30, y)), `DeleteEndpoint of the unknown ${y.slice(0, 12)}… (Docker's stale endpoints are success)`);
    t.equal((await host.port(name))?.externalIds['ovsvlan-endpoint'], x, `port ${name} is still ${x.slice(0, 12)}…'s`);
    t.equal((await host.links()).get(name)?.alias, linkMark(x), 'so is the veth');
    for (const p of plugged) t.ok(await p.box.ping(live.ip), `${p.ip} → ${live.ip}`);
    const before = JSON.stringify(await host.readState());
    for (const net of [N30, N121]) {
      refused(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(net, y, net === N30 ? '10.66.30.21/24' : '10.66.121.21/24')),
        `CreateEndpoint of ${y.slice(0, 12)}… on VLAN ${net === N30 ? 30 : 121}`, new RegExp(`${name}, the name of endpoint ${x.slice(0, 12)}`));
    }
    t.equal(JSON.stringify(await host.readState()), before, 'the state did not change');
    t.same([(await host.port(name))?.tag, (await host.port(name))?.externalIds['ovsvlan-endpoint']], [30, x], 'the port neither re-tagged nor taken');
    t.ok(await plugged[0]?.box.ping(live.ip), 'and it still talks');
    plugged.push(live);
  });

  await t.test('a link or port of that name that is not the endpoint\'s own is refused, never taken or deleted', async (t) => {
    const z = idWith('');
    const zn = vethNames(z);
    const other = `${host.bridge.slice(0, -1)}x`;
    // a port of someone else's, on another bridge, whose interface is not a kernel link (a patch port)
    await host.ovs.vsctl(['add-br', other, '--', 'set', 'bridge', other, 'datapath_type=netdev', '--', 'add-port', other, zn.host,
      '--', 'set', 'interface', zn.host, 'type=patch', 'options:peer=nowhere']);
    refused(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(N30, z, '10.66.30.40/24')), 'CreateEndpoint whose port name is on another bridge',
      new RegExp(`OVS port ${zn.host} is on bridge ${other}.*never takes a port off another bridge`));
    t.same([(await host.port(zn.host))?.bridge, (await host.port(zn.host))?.externalIds], [other, {}], 'the port stays where it was, as it was');
    t.notOk((await host.links()).has(zn.container), 'the veth made for it is gone again');
    t.equal((await host.readState()).endpoints[z], undefined, 'no record');
    await host.ovs.vsctl(['del-br', other]);
    // a link of that name that is not marked as the endpoint's (here a veth someone made)
    const w = idWith('');
    const wn = vethNames(w);
    await host.ns.ip(['link', 'add', wn.host, 'type', 'veth', 'peer', 'name', `${host.bridge.slice(0, -1)}w`]);
    refused(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(N30, w, '10.66.30.41/24')), 'CreateEndpoint whose veth name is taken',
      new RegExp(`link ${wn.host} exists and is not marked as this endpoint's`));
    t.ok((await host.links()).has(wn.host), 'the link is left alone');
    t.equal(await host.port(wn.host), undefined, 'and not made a port');
    await host.ns.ip(['link', 'del', wn.host]);
  });

  await t.test('every call checks that the endpoint is the network\'s own', async (t) => {
    const p = plugged[0] as Plugged;
    const name = vethNames(p.ep).host;
    const before = JSON.stringify(await host.readState());
    const why = new RegExp(`endpoint ${p.ep.slice(0, 12)} belongs to network ${N30.slice(0, 12)}, not to network ${N121.slice(0, 12)}`);
    refused(t, await host.call('NetworkDriver.Join', joinReq(N121, p.ep)), 'Join with another network\'s ID', why);
    for (const call of ['Leave', 'EndpointOperInfo', 'DeleteEndpoint']) refused(t, await host.call(`NetworkDriver.${call}`, epReq(N121, p.ep)), `${call} with another network's ID`, why);
    refused(t, await host.call('NetworkDriver.ProgramExternalConnectivity', { ...epReq(N121, p.ep), Options: {} }), 'ProgramExternalConnectivity with another network\'s ID', why);
    refused(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(N121, p.ep, '10.66.121.5/24')), 'CreateEndpoint of the endpoint on another network', why);
    t.equal(JSON.stringify(await host.readState()), before, 'the state did not change');
    t.same([(await host.port(name))?.tag, (await host.port(name))?.bridge], [30, host.bridge], 'the port is still on VLAN 30');
    t.ok(await p.box.ping(plugged[1]?.ip ?? ''), 'and still talks');
    ok(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(N30, p.ep, `${p.ip}/24`)), 'a retry on its own network');
    t.equal((await host.port(name))?.tag, 30, 'changes nothing');
    const j = await host.call('NetworkDriver.Join', joinReq(N30, p.ep));
    t.same([j.status, j.answer['Gateway']], [200, '10.66.30.1'], 'Join on its own network: its own gateway');
    t.ok(await p.box.ping(plugged[1]?.ip ?? ''), 'still talks after the retry');
  });

  await t.test('a create that fails after its OVS transaction leaves nothing (ovs-vswitchd paused)', async (t) => {
    const e = idWith('');
    const n = vethNames(e);
    const r = await withVswitchdPaused(host, () => host.call('NetworkDriver.CreateEndpoint', endpoint(N30, e, '10.66.30.50/24'), 60_000));
    refused(t, r, 'CreateEndpoint while ovs-vswitchd does not answer', /ovs-vswitchd did not apply the change/);
    t.equal(await host.port(n.host), undefined, `no Port row ${n.host}`);
    const links = await host.links();
    t.notOk(links.has(n.host) || links.has(n.container), 'no veth');
    t.equal((await host.readState()).endpoints[e], undefined, 'no record');
    const o = idWith('');
    const o2 = await withVswitchdPaused(host, () => host.call('NetworkDriver.CreateNetwork', overlayNet(o, 7001), 60_000));
    refused(t, o2, 'CreateNetwork of an overlay (a bridge of its own) while ovs-vswitchd does not answer', /ovs-vswitchd did not apply the change/);
    t.notOk((await host.ovs.vsctl(['list-br'])).split('\n').includes(overlayBridgeName(o)), `no bridge ${overlayBridgeName(o)}`);
    t.equal((await host.readState()).networks[o], undefined, 'no record');
    const again = idWith('');
    ok(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(N30, again, '10.66.30.51/24')), 'once it answers again, an endpoint is made');
    t.equal((await host.port(vethNames(again).host))?.tag, 30, 'with its port');
    ok(t, await host.call('NetworkDriver.DeleteEndpoint', epReq(N30, again)), 'and deleted');
  });

  await t.test('overlays whose IDs share 10 characters get their own tunnel ports; deleting one leaves the other\'s', async (t) => {
    const p10 = hex(10);
    const [o1, o2] = [idWith(p10), idWith(p10)] as [string, string];
    ok(t, await host.call('NetworkDriver.CreateNetwork', overlayNet(o1, 7101)), 'overlay 1');
    ok(t, await host.call('NetworkDriver.CreateNetwork', overlayNet(o2, 7102)), 'overlay 2');
    const [t1, t2] = [networkPortNames(o1, 2, false).tunnels, networkPortNames(o2, 2, false).tunnels];
    t.equal(new Set([...t1, ...t2]).size, 4, `four tunnel ports: ${[...t1, ...t2].join(', ')}`);
    const tunnelsOf = async (names: string[]): Promise<Array<string | undefined>> =>
      Promise.all(names.map(async (n) => { const p = await host.port(n); return p && `${p.bridge} ${p.externalIds['ovsvlan-network']?.slice(0, 12)}`; }));
    t.same(await tunnelsOf(t2), t2.map(() => `${overlayBridgeName(o2)} ${o2.slice(0, 12)}`), 'overlay 2\'s tunnels on its own bridge, marked as its own');
    ok(t, await host.call('NetworkDriver.DeleteNetwork', { NetworkID: o1 }), 'DeleteNetwork of overlay 1');
    t.same(await tunnelsOf(t1), [undefined, undefined], 'overlay 1\'s tunnels are gone');
    t.same(await tunnelsOf(t2), t2.map(() => `${overlayBridgeName(o2)} ${o2.slice(0, 12)}`), 'overlay 2\'s stay');
    t.equal(await host.ovs.vsctl(['get', 'interface', t2[0] ?? '', 'options:key']), '"7102"', 'with their VNI');
    ok(t, await host.call('NetworkDriver.DeleteNetwork', { NetworkID: o2 }), 'DeleteNetwork of overlay 2');
  });

  await t.test('overlays whose bridge names collide on purpose: the second is refused, the first untouched', async (t) => {
    const [x, y] = COLLIDING_IDS;
    ok(t, await host.call('NetworkDriver.CreateNetwork', overlayNet(x, 7201)), 'overlay x');
    refused(t, await host.call('NetworkDriver.CreateNetwork', overlayNet(y, 7202)), 'overlay y, whose bridge would be x\'s',
      new RegExp(`bridge ${overlayBridgeName(x)} is already network ${x.slice(0, 12)}'s`));
    t.equal((await host.readState()).networks[y], undefined, 'no record of y');
    t.equal((await host.port(networkPortNames(x, 2, false).tunnels[0] ?? ''))?.externalIds['ovsvlan-network'], x, 'x\'s tunnel stays');
    ok(t, await host.call('NetworkDriver.DeleteNetwork', { NetworkID: x }), 'DeleteNetwork of overlay x');
  });

  await t.test('DeleteNetwork takes the endpoints ovsvlan still holds for it, and their leases', async (t) => {
    const n50 = idWith('');
    const e50 = idWith('');
    const pool = await host.call('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: '10.66.50.0/24', SubPool: '', Options: {}, V6: false });
    const poolId = String(pool.answer['PoolID']);
    ok(t, await host.call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }), 'gateway');
    ok(t, await host.call('NetworkDriver.CreateNetwork', vlanNet(n50, 50, '10.66.50')), 'VLAN 50');
    const addr = String((await host.call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} })).answer['Address']);
    ok(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(n50, e50, addr)), 'an endpoint');
    const ip = addr.split('/')[0] ?? '';
    t.equal((await host.readState()).pools[poolId]?.leases[ip]?.kind, 'endpoint', `${ip} is the endpoint's lease`);
    ok(t, await host.call('NetworkDriver.DeleteNetwork', { NetworkID: n50 }), 'DeleteNetwork while ovsvlan still holds the endpoint (a crash left it)');
    const state = await host.readState();
    t.same([state.networks[n50], state.endpoints[e50]], [undefined, undefined], 'network and endpoint records are gone');
    t.equal(state.pools[poolId]?.leases[ip], undefined, 'the endpoint\'s lease is freed');
    t.equal(await host.port(vethNames(e50).host), undefined, 'its port is gone');
    t.notOk((await host.links()).has(vethNames(e50).host), 'its veth too');
    ok(t, await host.call('IpamDriver.ReleasePool', { PoolID: poolId }), 'ReleasePool');
  });

  await t.test('an endpoint recorded before issue 9 keeps its names and works; an old-form orphan veth is still found', async (t) => {
    const legacy = idWith('');
    const names = { host: `ovh${legacy.slice(0, 12)}`, container: `ovc${legacy.slice(0, 12)}` };
    const orphan = `ovh${hex(12)}`;
    await host.stopDaemon();
    await host.ns.ip(['link', 'add', names.host, 'type', 'veth', 'peer', 'name', names.container]);
    await host.ns.ip(['link', 'set', names.host, 'up']);
    await runOk('ip', ['netns', 'exec', host.ns.name, 'ethtool', '-K', names.container, 'tx', 'off']);
    await host.ns.ip(['link', 'add', orphan, 'type', 'veth', 'peer', 'name', `ovc${orphan.slice(3)}`]);
    const state = await host.readState();
    state.endpoints[legacy] = { id: legacy, networkId: N30, hostIf: names.host, containerIf: names.container, addressV4: '10.66.30.30/24', createdAt: Date.now() };
    await writeFile(`${host.stateDir}/state.json`, JSON.stringify(state));
    await host.startDaemon();
    // the first reconciliation repairs the port and removes orphans; wait for both, then look
    await waitFor('the first reconciliation', async () => (await host.port(names.host))?.tag === 30 && !(await host.links()).has(orphan), 15_000)
      .catch(() => undefined);
    t.same([(await host.port(names.host))?.tag, (await host.port(names.host))?.externalIds['ovsvlan-endpoint']], [30, legacy], `${names.host} is attached again, on VLAN 30`);
    t.equal((await host.links()).get(names.host)?.alias, linkMark(legacy), 'and marked as its endpoint\'s now');
    t.notOk((await host.links()).has(orphan), `the old-form orphan ${orphan} was removed`);
    const j = await host.call('NetworkDriver.Join', joinReq(N30, legacy));
    t.equal((j.answer['InterfaceName'] as { SrcName?: string } | undefined)?.SrcName, names.container, 'Join hands out its old container end');
    const box = await host.sandbox('oleg');
    await box.plug(names.container, '10.66.30.30/24');
    t.ok(await box.ping(plugged[0]?.ip ?? ''), 'it talks');
    await detach(t, host, N30, { ep: legacy, src: names.container, ip: '10.66.30.30', box });
    t.equal(await host.port(names.host), undefined, 'DeleteEndpoint removes its port');
    t.notOk((await host.links()).has(names.host), 'and its veth');
  });

  for (const p of plugged) await detach(t, host, N30, p);
  for (const n of [N30, N121]) ok(t, await host.call('NetworkDriver.DeleteNetwork', { NetworkID: n }), 'DeleteNetwork');
  const left = [...(await host.links()).keys()].filter((n) => /^ov[bchti][0-9a-f]{12}$/.test(n));
  t.same(left, [], 'no link of ours left');
  t.same(await host.ovs.vsctl(['--columns=name', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']), '', 'no port of ours left');
});
