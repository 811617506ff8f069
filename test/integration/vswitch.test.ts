// Vswitch against a real private ovsdb-server + ovs-vswitchd: the batch port
// operations (one transaction each) and the reads served from the monitor's
// cache. ovs-vsctl bound to that instance is the independent observer and the
// "other client" whose changes the cache must see.
import t from 'tap';
import { pino } from 'pino';
import { startOvsInNetns } from '../helpers/ovs.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { Vswitch } from '../../src/vswitch/vswitch.js';
import { ConflictError, NotFoundError } from '../../src/errors.js';

const BR = `${RUN_PREFIX}vb`;
const OWNER = { 'ovsvlan-owner': 'ovsvlan' };
const spare = (net: string): Record<string, string> => ({ ...OWNER, 'ovsvlan-role': 'spare', 'ovsvlan-network': net });
const endpoint = (net: string, ep: string): Record<string, string> => ({ ...OWNER, 'ovsvlan-network': net, 'ovsvlan-endpoint': ep });
const port = (n: number): string => `${RUN_PREFIX}s${n}`;

t.test('Vswitch on a private OVS', async (t) => {
  const { ovs: o } = await startOvsInNetns(t, 'v');
  const client = new OvsdbClient({ endpoint: o.endpoint, logger: pino({ level: 'silent' }), backoff: { initialMs: 100, maxMs: 800 } });
  t.teardown(() => client.close());
  await client.connect();
  const vs = new Vswitch(client);
  const nextCfg = async (): Promise<number> => Number(await o.vsctl(['get', 'Open_vSwitch', '.', 'next_cfg']));
  const externalIds = async (name: string): Promise<string> => o.vsctl(['get', 'Port', name, 'external_ids']);

  await t.test('ensureBridge, then attachPorts: every port tagged and marked, one change for ovs-vswitchd', async (t) => {
    t.equal((await vs.ensureBridge(BR, 'netdev')).created, true);
    const before = await nextCfg();
    await vs.attachPorts([1, 2, 3].map((n) => ({ bridge: BR, name: port(n), tag: 100 + n, externalIds: spare('n1') })));
    t.equal(await nextCfg(), before + 1, 'one transaction waited for ovs-vswitchd');
    t.equal(await o.vsctl(['get', 'Open_vSwitch', '.', 'cur_cfg']), String(before + 1), 'and ovs-vswitchd applied it');
    for (const n of [1, 2, 3]) {
      t.equal(await o.vsctl(['get', 'Port', port(n), 'tag']), String(100 + n), `${port(n)} tag`);
      t.equal(await o.vsctl(['port-to-br', port(n)]), BR, `${port(n)} on the bridge`);
      t.match(await externalIds(port(n)), /ovsvlan-role="?spare"?/);
    }
    t.same((await vs.getBridge(BR))?.portNames.sort(), [BR, port(1), port(2), port(3)].sort(), 'getBridge lists them');
    await vs.attachPorts([]); // nothing to do
  });

  await t.test('attachPorts: one port held by another refuses the whole batch', async (t) => {
    await o.vsctl(['add-port', BR, port(9), '--', 'set', 'Port', port(9), 'external_ids:someone=else']);
    const err = await vs.attachPorts([
      { bridge: BR, name: port(4), tag: 104, externalIds: spare('n1') },
      { bridge: BR, name: port(9), tag: 109, externalIds: spare('n1') },
    ]).catch((e: unknown) => e);
    t.ok(err instanceof ConflictError, 'ConflictError');
    t.match((err as Error).message, new RegExp(`${port(9)}.*not ovsvlan's`));
    t.equal((await o.vsctl(['list-ports', BR])).split('\n').includes(port(4)), false, 'the other port was not added');
    t.match(await externalIds(port(9)), /someone=else/, 'the held port is untouched');
    const missing = await vs.attachPorts([{ bridge: `${BR}x`, name: port(5), tag: 1, externalIds: spare('n1') }]).catch((e: unknown) => e);
    t.ok(missing instanceof NotFoundError, 'a missing bridge is NotFoundError');
  });

  await t.test('remarkPort hands a spare to an endpoint without waking ovs-vswitchd', async (t) => {
    const before = await nextCfg();
    await vs.remarkPort(port(1), spare('n1'), endpoint('n1', 'e1'));
    const ids = await externalIds(port(1));
    t.match(ids, /ovsvlan-endpoint="?e1"?/);
    t.notMatch(ids, /ovsvlan-role/, 'the spare mark is gone');
    t.equal(await nextCfg(), before, 'no reconfiguration asked for');
    t.equal((await vs.getPort(port(1)))?.externalIds['ovsvlan-endpoint'], 'e1', 'a read after the change sees it');

    const taken = await vs.remarkPort(port(1), spare('n1'), endpoint('n1', 'e2')).catch((e: unknown) => e);
    t.ok(taken instanceof ConflictError, 'a port no longer carrying `from` is refused');
    t.match((taken as Error).message, new RegExp(`${port(1)}.*endpoint e1`), 'naming the port and its owner');
    t.match(await externalIds(port(1)), /ovsvlan-endpoint="?e1"?/, 'and left as it was');
    const none = await vs.remarkPort(`${RUN_PREFIX}none`, spare('n1'), endpoint('n1', 'e2')).catch((e: unknown) => e);
    t.ok(none instanceof NotFoundError, 'no such port: NotFoundError');
  });

  await t.test('detachPorts removes, in one transaction, only the ports carrying their marks', async (t) => {
    const before = await nextCfg();
    const removed = await vs.detachPorts([
      { name: port(2), marks: spare('n1') },
      { name: port(3), marks: spare('n1') },
      { name: port(1), marks: spare('n1') }, // an endpoint's now: left alone
      { name: port(9), marks: spare('n1') }, // not ours
      { name: `${RUN_PREFIX}none`, marks: spare('n1') },
    ], { wait: true });
    t.same(removed.sort(), [port(2), port(3)]);
    t.equal(await nextCfg(), before + 1, 'one transaction');
    t.same((await o.vsctl(['list-ports', BR])).split('\n').sort(), [port(1), port(9)].sort());
    t.same(await vs.detachPorts([{ name: port(2), marks: spare('n1') }], { wait: false }), [], 'gone already: nothing removed');
  });

  await t.test('syncTunnels adds, replaces and removes a bridge\'s tunnels in one transaction; another\'s port is left alone', async (t) => {
    const peer = (h: string): Record<string, string> => ({ ...OWNER, 'ovsvlan-role': 'tunnel', 'ovsvlan-network': 'n2', 'ovsvlan-peer': h });
    const tun = (n: number, remote: string): Parameters<typeof vs.syncTunnels>[1][number] =>
      ({ bridge: BR, name: port(20 + n), type: 'vxlan', remote, key: 5001, externalIds: peer(`h${n}`) });
    await vs.syncTunnels(BR, [tun(1, '10.99.9.1'), tun(2, '10.99.9.2')], []);
    const before = await nextCfg();
    await vs.syncTunnels(BR, [tun(2, '10.99.9.22'), tun(3, '10.99.9.3')], [
      { name: port(21), marks: peer('h1') },
      { name: port(9), marks: peer('h9') }, // not ours: left alone
    ]);
    t.equal(await nextCfg(), before + 1, 'one transaction waited for ovs-vswitchd');
    const ports = (await o.vsctl(['list-ports', BR])).split('\n');
    t.notOk(ports.includes(port(21)), 'h1\'s tunnel removed');
    t.ok(ports.includes(port(9)), 'the port that is not ovsvlan\'s stays');
    t.match(await o.vsctl(['get', 'Interface', port(22), 'options']), /remote_ip="?10\.99\.9\.22"?/, 'h2\'s tunnel replaced with its new address');
    t.match(await o.vsctl(['get', 'Interface', port(23), 'options']), /key="?5001"?/, 'h3\'s tunnel added with the key');
    t.equal(await o.vsctl(['get', 'Port', port(23), 'protected']), 'true');
    const held = await vs.syncTunnels(BR, [{ ...tun(4, '10.99.9.4'), name: port(9) }], []).catch((e: unknown) => e);
    t.ok(held instanceof ConflictError, 'a tunnel named like another\'s port is refused');
    await vs.syncTunnels(BR, [], [{ name: port(22), marks: peer('h2') }, { name: port(23), marks: peer('h3') }]);
    t.notOk((await o.vsctl(['list-ports', BR])).split('\n').some((p) => p === port(22) || p === port(23)), 'removed');
  });

  /** Polls the cache (through Vswitch) until `check` holds: another client's change arrives as a notification. */
  const eventually = async (check: () => Promise<boolean>): Promise<boolean> => {
    for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (await check()) return true;
    return check();
  };

  await t.test('the cache sees what another client (ovs-vsctl) inserts, modifies and deletes', async (t) => {
    await o.vsctl(['add-port', BR, port(7), 'tag=77', '--', 'set', 'Port', port(7), 'external_ids:ovsvlan-owner=ovsvlan']);
    t.ok(await eventually(async () => (await vs.getPort(port(7)))?.tag === 77), 'insert seen');
    t.equal((await vs.getPort(port(7)))?.bridge, BR, 'with the bridge that holds it');
    t.ok((await vs.listOwnedPorts()).some((p) => p.name === port(7)), 'listOwnedPorts has it');
    t.ok((await vs.getBridge(BR))?.portNames.includes(port(7)), 'getBridge lists it');
    await o.vsctl(['set', 'Port', port(7), 'tag=78']);
    t.ok(await eventually(async () => (await vs.getPort(port(7)))?.tag === 78), 'modify seen');
    t.equal((await vs.getPort(port(7)))?.externalIds['ovsvlan-owner'], 'ovsvlan', 'the columns not changed are kept');
    await o.vsctl(['del-port', BR, port(7)]);
    t.ok(await eventually(async () => (await vs.getPort(port(7))) === undefined), 'delete seen');
    t.notOk((await vs.getBridge(BR))?.portNames.includes(port(7)));
  });

  await t.test('a read right after our own transaction sees it (no wait for a notification)', async (t) => {
    let stale = 0;
    for (let i = 0; i < 20; i++) {
      const [from, to] = i % 2 === 0 ? [endpoint('n1', 'e1'), endpoint('n1', 'e3')] : [endpoint('n1', 'e3'), endpoint('n1', 'e1')];
      await vs.remarkPort(port(1), from, to);
      if ((await vs.getPort(port(1)))?.externalIds['ovsvlan-endpoint'] !== to['ovsvlan-endpoint']) stale++;
    }
    t.equal(stale, 0, 'no stale read in 20 changes');
  });

  await t.test('ovsdb-server restarted with an empty database: reads wait for the new monitor, then show it', async (t) => {
    await o.stop();
    const during = vs.getBridge(BR); // asked while OVSDB is down
    await o.start({ wipe: true });
    t.equal(await during, undefined, 'the read waited and saw the empty database, not the old rows');
    t.same(await vs.listOwnedPorts(), [], 'no port of the old database left in the cache');
    await o.vsctl(['add-br', BR, '--', 'set', 'Bridge', BR, 'datapath_type=netdev']);
    t.ok(await eventually(async () => (await vs.getBridge(BR)) !== undefined), 'a bridge made after the restart is seen');
    await vs.attachPorts([{ bridge: BR, name: port(1), tag: 101, externalIds: spare('n1') }]);
    t.equal((await vs.getPort(port(1)))?.tag, 101, 'and ports attached to it');
  });
});
