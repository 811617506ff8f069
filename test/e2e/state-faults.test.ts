// A full state disk (issue 9, defect 1; "must show" 2). The daemon's state
// directory is a small tmpfs; with it filled, CreateEndpoint, RequestPool and
// RequestAddress (and CreateNetwork) fail with "cannot save", and nothing of
// them is remembered: Join of that endpoint fails, the address and the default
// subnet are handed out again, no bridge, port or veth is left. After the disk is freed and the daemon
// restarted, the state file, OVS and the links agree, and a new endpoint pings
// the one made before. Driven over the socket as Docker drives it (no dockerd):
// a private OVS in a netns, sandboxes are netns of the test. A change is one
// journal line: once the disk is full, the few that still fit in the journal's
// last page are saved, then the failures begin (the first a line cut short,
// cut back); the saved state is read as the daemon loads it (readSavedState).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, statfs } from 'node:fs/promises';
import { pluginCall } from '../helpers/faults.js';
import { readSavedState } from '../../src/store/journal.js';
import { nsPing } from '../helpers/multihost.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { destroyOvs, startOvs, type OvsInstance } from '../helpers/ovs.js';
import { startOvsvlan, type OvsvlanProcess } from '../helpers/plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, run, runOk } from '../helpers/run.js';

const SUBNET = '10.13.231';
const id = (): string => randomBytes(32).toString('hex');

interface StateFile {
  networks: Record<string, unknown>;
  endpoints: Record<string, { hostIf: string; containerIf: string }>;
  pools: Record<string, { pool: string; networkId?: string; leases: Record<string, { kind: string; endpointId?: string }> }>;
}

t.test('a full state disk: failed calls leave nothing, in memory, in OVS, in the kernel or on disk', async (t) => {
  await ensureRunDir();
  const name = 'sf';
  const stateDir = `${RUN_DIR}/state-${name}`;
  const socket = `${RUN_DIR}/${name}.sock`;
  const logFile = `${RUN_DIR}/ovsvlan-${name}.log`;
  const sandboxes: Netns[] = [];
  let ovs: OvsInstance | undefined;
  let daemon: OvsvlanProcess | undefined;
  let mounted = false;
  const ns = await createNetns(`${RUN_PREFIX}-${name}`);
  t.teardown(async () => {
    if (!t.passing()) console.error(`--- ovsvlan-${name} log tail\n${await daemon?.logTail(40)}`);
    await daemon?.stop();
    if (mounted && (await run('umount', [stateDir])).exitCode !== 0) await run('umount', ['-l', stateDir]);
    for (const s of sandboxes) await s.remove();
    if (ovs) await destroyOvs(ovs);
    await ns.remove();
    await rm(stateDir, { recursive: true, force: true });
    await rm(logFile, { force: true });
  });
  ovs = await startOvs(name, ns.name);
  await mkdir(stateDir, { recursive: true });
  await runOk('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', `${RUN_PREFIX}-state`, stateDir]);
  mounted = true;
  const start = async (): Promise<void> => {
    daemon = await startOvsvlan({ netns: ns.name, socket, ovsdb: ovs!.endpoint, stateDir, bridge: `${RUN_PREFIX}sf0`, datapath: 'netdev',
      logFile, env: { OVSVLAN_DOCKER: '' } });
  };
  await start();

  const call = async (method: string, body: object): Promise<{ status: number; answer: Record<string, unknown> }> =>
    pluginCall(socket, `/${method}`, JSON.stringify(body));
  const ok = async (method: string, body: object): Promise<Record<string, unknown>> => {
    const r = await call(method, body);
    if (r.status !== 200) throw new Error(`${method}: ${r.status} ${JSON.stringify(r.answer)}`);
    return r.answer;
  };
  const address = async (poolId: string, wanted = ''): Promise<string> => String((await ok('IpamDriver.RequestAddress', { PoolID: poolId, Address: wanted, Options: {} }))['Address']);
  const sandbox = async (tag: string): Promise<Netns> => {
    const s = await createNetns(`${RUN_PREFIX}-${name}${tag}`);
    sandboxes.push(s);
    return s;
  };
  /** CreateEndpoint + Join, then what Docker does: the container end into the sandbox as eth0 with the address. */
  const endpoint = async (networkId: string, endpointId: string, cidr: string, s: Netns): Promise<void> => {
    await ok('NetworkDriver.CreateEndpoint', { NetworkID: networkId, EndpointID: endpointId, Interface: { Address: cidr, AddressIPv6: '', MacAddress: '' }, Options: {} });
    const join = await ok('NetworkDriver.Join', { NetworkID: networkId, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${s.name}`, Options: {} });
    const src = String((join['InterfaceName'] as Record<string, unknown>)['SrcName']);
    await ns.ip(['link', 'set', 'dev', src, 'netns', s.name]);
    await s.ip(['link', 'set', 'dev', src, 'name', 'eth0']);
    await s.ip(['addr', 'add', cidr, 'dev', 'eth0']);
    await s.ip(['link', 'set', 'eth0', 'up']);
  };
  const filler = `${stateDir}/filler`;
  const fill = async (): Promise<void> => {
    const f = await open(filler, 'w');
    try {
      for (const size of [65536, 512, 1]) {
        for (;;) await f.write(Buffer.alloc(size)).catch((err: NodeJS.ErrnoException) => { throw err.code === 'ENOSPC' ? 'full' : err; });
      }
    } catch (err) {
      if (err !== 'full') throw err;
    } finally {
      await f.close();
    }
    if ((await statfs(stateDir)).bavail !== 0) throw new Error(`${stateDir} is not full`);
  };
  /** ovsvlan's ports by OVS (an outside observer), spares left out (they come and go in the background): name → endpoint ID (empty for other roles). */
  const ports = async (): Promise<Map<string, string>> => {
    const out = await ovs!.vsctl(['--format=json', '--columns=name,external_ids', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']);
    const rows = (JSON.parse(out) as { data: Array<[string, [string, Array<[string, string]>]]> }).data;
    return new Map(rows.map(([n, ids]): [string, Record<string, string>] => [n, Object.fromEntries(ids[1])])
      .filter(([, ids]) => ids['ovsvlan-role'] !== 'spare').map(([n, ids]) => [n, ids['ovsvlan-endpoint'] ?? '']));
  };
  /** ovsvlan's veth ends in the host, spares' left out (by their alias). */
  const ourLinks = async (): Promise<string[]> => {
    const all = JSON.parse(await runOk('ip', ['-n', ns.name, '-j', 'link', 'show'])) as Array<{ ifname: string; ifalias?: string }>;
    return all.filter((l) => /^ov[hc]/.test(l.ifname) && !l.ifalias?.startsWith('ovsvlan-spare=')).map((l) => l.ifname).sort();
  };
  const readState = async (): Promise<StateFile> => await readSavedState(stateDir) as unknown as StateFile;

  // with room on the disk: a network, and endpoint e1 in its sandbox
  const net = id();
  const poolId = String((await ok('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: `${SUBNET}.0/24`, SubPool: '', Options: {}, V6: false }))['PoolID']);
  await ok('IpamDriver.RequestAddress', { PoolID: poolId, Address: `${SUBNET}.1`, Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await ok('NetworkDriver.CreateNetwork', { NetworkID: net, Options: { 'com.docker.network.generic': { vlan: '831' } },
    IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: `${SUBNET}.0/24`, Gateway: `${SUBNET}.1/24` }], IPv6Data: [] });
  const e1 = id();
  const a1 = await address(poolId);
  await endpoint(net, e1, a1, await sandbox('1'));
  const a2 = await address(poolId); // Docker asks the IPAM first, then CreateEndpoint

  await fill();
  // a change is one journal line: the first few may still fit in the journal's last page of the
  // full tmpfs, and are saved; they are handed out until one fails (a line cut short, cut back)
  const slack: string[] = [];
  for (let r = await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} }); r.status === 200;
    r = await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} })) {
    slack.push(String(r.answer['Address']));
    if (slack.length > 200) throw new Error('200 changes saved on a full disk');
  }
  t.pass(`${slack.length} change(s) fitted in the journal's last page, then "cannot save"`);
  const before = { ports: await ports(), links: await ourLinks(), state: await readState() };
  await t.test('CreateEndpoint fails, and Join of that endpoint fails; no port or veth is left', async (t) => {
    const e2 = id();
    const r = await call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: e2, Interface: { Address: a2, AddressIPv6: '', MacAddress: '' }, Options: {} });
    t.equal(r.status, 500);
    t.match(r.answer['Err'], /cannot save .*state\.journal: ENOSPC: no space left on device/, 'the error says the state cannot be saved, and why');
    const join = await call('NetworkDriver.Join', { NetworkID: net, EndpointID: e2, SandboxKey: '/var/run/docker/netns/x', Options: {} });
    t.equal(join.status, 500, `Join of the endpoint that was not saved fails (${JSON.stringify(join.answer)})`);
    t.same(await ports(), before.ports, 'OVS has no port of it');
    t.same(await ourLinks(), before.links, 'the kernel has no veth of it');
    t.notOk([...(await ports()).values()].includes(e2));
  });
  await t.test('CreateNetwork fails, and leaves no bridge; the network is not known', async (t) => {
    const net2 = id();
    const bridge = `${RUN_PREFIX}sf1`;
    const r = await call('NetworkDriver.CreateNetwork', { NetworkID: net2, Options: { 'com.docker.network.generic': { vlan: '832', bridge } },
      IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: '10.13.232.0/24', Gateway: '10.13.232.1/24' }], IPv6Data: [] });
    t.equal(r.status, 500);
    t.match(r.answer['Err'], /cannot save/);
    t.equal((await run('ovs-vsctl', [`--db=unix:${ovs!.dbSock}`, 'br-exists', bridge])).exitCode, 2, `OVS has no bridge ${bridge}`);
    const ep = await call('NetworkDriver.CreateEndpoint', { NetworkID: net2, EndpointID: id(), Interface: { Address: '10.13.232.2/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
    t.match(ep, { status: 500, answer: { Err: /not known/ } }, 'CreateEndpoint on it: the network is not known');
  });
  await t.test('RequestPool and RequestAddress fail', async (t) => {
    const pool = await call('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: '', SubPool: '', Options: {}, V6: false });
    t.equal(pool.status, 500);
    t.match(pool.answer['Err'], /cannot save/);
    for (const wanted of [`${SUBNET}.50`, '']) {
      const r = await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: wanted, Options: {} });
      t.equal(r.status, 500, `RequestAddress "${wanted}" fails`);
      t.match(r.answer['Err'], /cannot save/);
    }
  });
  t.same(await readState(), before.state, 'the saved state (snapshot and journal) is what it was before the disk filled');

  await rm(filler);
  await t.test('with room again, nothing of the failed calls is remembered', async (t) => {
    t.equal(await address(poolId, `${SUBNET}.50`), `${SUBNET}.50/24`, 'the address asked for while the disk was full is free');
    const next = await address(poolId);
    t.equal(next, `${SUBNET}.${4 + slack.length}/24`, 'the next address is the one the failed call would have had');
    const auto = await ok('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: '', SubPool: '', Options: {}, V6: false });
    t.equal(auto['Pool'], '10.200.0.0/24', 'the first default subnet is free: the failed RequestPool holds none');
    await ok('IpamDriver.ReleasePool', { PoolID: auto['PoolID'] });
    // Docker's own rollback of the failed `docker run`, and of the calls above
    for (const a of [a2, ...slack, `${SUBNET}.50`, next]) await ok('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: a.split('/')[0] });
  });

  await daemon!.stop();
  await start();
  await t.test('after a restart, state, OVS and links agree', async (t) => {
    const state = await readState();
    t.same(Object.keys(state.networks), [net], 'one network');
    t.same(Object.keys(state.endpoints), [e1], 'one endpoint: e1');
    t.same(Object.keys(state.pools), [poolId], 'one pool');
    const leases = Object.entries(state.pools[poolId]?.leases ?? {}).map(([a, l]) => `${a} ${l.kind} ${l.endpointId ?? ''}`.trim());
    t.same(leases.sort(), [`${SUBNET}.1 gateway`, `${a1.split('/')[0]} endpoint ${e1}`].sort(), 'leases: the gateway and e1\'s address');
    const host = state.endpoints[e1]!;
    t.same([...(await ports()).entries()], [[host.hostIf, e1]], 'OVS: e1\'s port only');
    t.same(await ourLinks(), [host.hostIf], 'kernel: e1\'s host end only (its container end is in its sandbox)');
    const e3 = id();
    const a3 = await address(poolId);
    const s3 = await sandbox('3');
    await endpoint(net, e3, a3, s3);
    t.ok(await nsPing(s3.name, a1.split('/')[0]!), `a new endpoint pings e1 (${a3} → ${a1})`);
  });
});
