// OvsdbClient against a real private ovsdb-server + ovs-vswitchd (ovs-vswitchd
// inside a fresh netns). ovs-vsctl bound to that instance is the independent
// observer; nothing touches the machine's own OVS.
import t from 'tap';
import { once } from 'node:events';
import { linkNames } from '../helpers/netns.js';
import { startOvsInNetns } from '../helpers/ovs.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { OvsdbConnectionError, OvsdbError, OvsdbTimeoutError } from '../../src/ovsdb/errors.js';
import { del, insert, mutate, select, update, wait, type Operation } from '../../src/ovsdb/ops.js';
import { fromOvsMap, fromOvsSet, namedUuid, ovsMap, ovsSet, uuid, uuidOf } from '../../src/ovsdb/notation.js';
import { captureLogger } from '../helpers/log.js';

const BR = `${RUN_PREFIX}br`;
const P1 = `${RUN_PREFIX}p1`;
const P2 = `${RUN_PREFIX}p2`;
const P3 = `${RUN_PREFIX}p3`;


/** An access port: Interface + Port rows and the Bridge.ports mutation, one transaction's worth. */
function accessPortOps(name: string, tag: number, endpoint: string): Operation[] {
  return [
    insert('Interface', { name, type: 'internal' }, 'iface'),
    insert('Port', { name, tag, interfaces: namedUuid('iface'), external_ids: ovsMap({ 'ovsvlan-endpoint': endpoint }) }, 'port'),
    mutate('Bridge', [['name', '==', BR]], [['ports', 'insert', ovsSet([namedUuid('port')])]]),
  ];
}

t.test('OvsdbClient on a private OVS', async (t) => {
  const { ns, ovs: o } = await startOvsInNetns(t, 'x');
  const { logger, lines } = captureLogger();
  const client = new OvsdbClient({ endpoint: o.endpoint, logger, backoff: { initialMs: 100, maxMs: 800 } });
  t.teardown(() => client.close());
  const events: string[] = [];
  client.on('connected', () => events.push('connected'));
  client.on('disconnected', () => events.push('disconnected'));
  await client.connect();
  t.ok(client.isConnected);
  t.same(events, ['connected']);

  await t.test('transactAndWait creates a netdev bridge that ovs-vsctl and ovs-vswitchd see', async (t) => {
    const res = await client.transactAndWait([
      insert('Interface', { name: BR, type: 'internal' }, 'brif'),
      insert('Port', { name: BR, interfaces: namedUuid('brif') }, 'brport'),
      insert('Bridge', { name: BR, ports: namedUuid('brport'), datapath_type: 'netdev',
        external_ids: ovsMap({ 'ovsvlan-test': RUN_PREFIX }) }, 'br'),
      mutate('Open_vSwitch', [], [['bridges', 'insert', ovsSet([namedUuid('br')])]]),
    ]);
    t.equal(res.length, 4, 'only the caller\'s results');
    t.match(uuidOf(res[2]?.uuid), /^[0-9a-f-]{36}$/);
    t.equal(res[3]?.count, 1);
    t.equal(await o.vsctl(['br-exists', BR]), '');
    t.equal(await o.vsctl(['get', 'bridge', BR, 'datapath_type']), 'netdev');
    t.equal(await o.vsctl(['get', 'bridge', BR, '_uuid']), uuidOf(res[2]?.uuid));
    t.equal(await o.vsctl(['get', 'bridge', BR, 'external_ids:ovsvlan-test']), RUN_PREFIX);
    // applied by ovs-vswitchd already, not just committed
    t.equal(await o.vsctl(['get', 'Open_vSwitch', '.', 'cur_cfg']), await o.vsctl(['get', 'Open_vSwitch', '.', 'next_cfg']));
    t.equal(await o.vsctl(['get', 'interface', BR, 'ofport']), '65534', 'bridge-local port realised');
  });

  await t.test('an access port with tag and external_ids in one transaction, realised on return', async (t) => {
    const res = await client.transactAndWait(accessPortOps(P1, 42, 'ep1'));
    t.equal(res[2]?.count, 1, 'one bridge mutated');
    // read at once on the same session (no process spawn in between): ovs-vswitchd must be done already
    const [now] = await client.transact([select('Interface', [['name', '==', P1]], ['ofport'])]);
    const ofport = fromOvsSet<number>(now?.rows?.[0]?.ofport)[0] ?? -1;
    t.ok(ofport > 0, `ofport ${ofport} is a positive number`);
    t.equal(await o.vsctl(['get', 'interface', P1, 'ofport']), String(ofport), 'ovs-vsctl agrees');
    t.match(await o.appctl(['dpif/show']), new RegExp(`${P1} ${ofport}/`), 'in the datapath');
    t.ok((await linkNames(ns.name)).includes(P1), 'tap device exists in the netns');
    t.equal(await o.vsctl(['get', 'port', P1, 'tag']), '42');
    t.equal(await o.vsctl(['get', 'port', P1, 'external_ids']), '{ovsvlan-endpoint=ep1}');
    t.match(await o.vsctl(['list-ports', BR]), P1);
    // and read back through the client: a 0..1 integer column comes back as a bare atom
    const [sel] = await client.transact([select('Port', [['name', '==', P1]], ['tag', 'external_ids', '_uuid'])]);
    const row = sel?.rows?.[0];
    t.same(fromOvsSet<number>(row?.tag), [42]);
    t.same(fromOvsMap(row?.external_ids), { 'ovsvlan-endpoint': 'ep1' });
    t.equal(uuidOf(row?._uuid), uuidOf(res[1]?.uuid));
  });

  await t.test('removing the port from Bridge.ports deletes Port and Interface (garbage collection)', async (t) => {
    const portUuid = await o.vsctl(['get', 'port', P1, '_uuid']);
    const [m] = await client.transactAndWait([
      mutate('Bridge', [['name', '==', BR]], [['ports', 'delete', ovsSet([uuid(portUuid)])]]),
    ]);
    t.equal(m?.count, 1);
    t.notMatch(await o.vsctl(['list-ports', BR]), P1);
    const [ports, ifaces] = await client.transact([
      select('Port', [['name', '==', P1]], ['name']),
      select('Interface', [['name', '==', P1]], ['name']),
    ]);
    t.same(ports?.rows, [], 'Port row gone (non-root table, unreferenced)');
    t.same(ifaces?.rows, [], 'Interface row gone');
    t.notOk((await linkNames(ns.name)).includes(P1), 'tap device removed by ovs-vswitchd');
  });

  await t.test('a Port nobody references is silently garbage-collected at commit', async (t) => {
    const res = await client.transact(accessPortOps(P3, 7, 'orphan').slice(0, 2));
    t.ok(uuidOf(res[1]?.uuid), 'insert reports a uuid…');
    const [sel] = await client.transact([select('Port', [['name', '==', P3]], ['name'])]);
    t.same(sel?.rows, [], '…but the row is not there');
  });

  await t.test('server-side errors are OvsdbErrors with the RFC 7047 code', async (t) => {
    // an operation fails: opIndex points at it, nothing of the transaction is committed
    const bad = accessPortOps(P2, 5000, 'ep2');
    const e1 = await client.transact(bad).catch((e: unknown) => e);
    t.ok(e1 instanceof OvsdbError, 'tag out of range');
    t.match(e1, { code: 'constraint violation', opIndex: 1, op: { op: 'insert', table: 'Port' } });
    t.match((e1 as Error).message, /5000 is not in the valid range 0 to 4095/);
    t.equal(await o.vsctl(['--if-exists', 'get', 'interface', P2, 'name']), '', 'the Interface insert was rolled back');

    // a duplicate name is a unique-index violation found at commit: the extra trailing result
    const dup = await client.transact([
      insert('Bridge', { name: BR }, 'dup'),
      mutate('Open_vSwitch', [], [['bridges', 'insert', ovsSet([namedUuid('dup')])]]),
    ]).catch((e: unknown) => e);
    t.ok(dup instanceof OvsdbError, 'duplicate bridge name');
    t.match(dup, { code: 'constraint violation', opIndex: undefined, message: /commit failed/ });
    t.match((dup as OvsdbError).details, /index on column "name"/);
    t.equal((await o.vsctl(['list-br'])).split('\n').filter((b) => b === BR).length, 1);

    const dangling = await client.transact([
      insert('Port', { name: P2, interfaces: uuid('2a6b6bd6-5cf1-4a5c-8a4f-0d2b0a8b1d00') }, 'p'),
      mutate('Bridge', [['name', '==', BR]], [['ports', 'insert', ovsSet([namedUuid('p')])]]),
    ]).catch((e: unknown) => e);
    t.match(dangling, { constructor: OvsdbError, code: 'referential integrity violation', opIndex: undefined });

    const twice = await client.transact([insert('Interface', { name: P2 }, 'x'), insert('Interface', { name: P3 }, 'x')])
      .catch((e: unknown) => e);
    t.match(twice, { constructor: OvsdbError, code: 'duplicate uuid-name', opIndex: 1 });

    const col = await client.transact([insert('Interface', { nome: P2 })]).catch((e: unknown) => e);
    t.match(col, { constructor: OvsdbError, code: 'unknown column', opIndex: 0, details: /nome/ });
  });

  await t.test('transactAndWait times out when ovs-vswitchd is not running; the change is committed', async (t) => {
    await o.stopVswitchd();
    const started = Date.now();
    const err = await client.transactAndWait([
      update('Bridge', [['name', '==', BR]], { external_ids: ovsMap({ 'ovsvlan-test': 'while-down' }) }),
    ], 1500).catch((e: unknown) => e);
    t.ok(err instanceof OvsdbTimeoutError);
    t.match((err as Error).message, /ovs-vswitchd did not apply the change within 1500 ms/);
    t.ok(Date.now() - started >= 1400, 'waited for the timeout');
    t.equal(await o.vsctl(['get', 'bridge', BR, 'external_ids:ovsvlan-test']), 'while-down');
    t.not(await o.vsctl(['get', 'Open_vSwitch', '.', 'cur_cfg']), await o.vsctl(['get', 'Open_vSwitch', '.', 'next_cfg']));
    await o.startVswitchd();
    await client.transactAndWait([]); // catches up
    t.equal(await o.vsctl(['get', 'Open_vSwitch', '.', 'cur_cfg']), await o.vsctl(['get', 'Open_vSwitch', '.', 'next_cfg']));
  });

  await t.test('ovsdb-server restart: in-flight request fails, client reconnects and re-monitors', async (t) => {
    // A "wait" op with a timeout keeps the transaction open on the server (RFC 7047 §5.2.6).
    const inFlight = client.transact([wait('Bridge', [['name', '==', BR]], ['name'], '==', [{ name: 'never' }], 60_000)])
      .catch((e: unknown) => e);
    const disconnected = once(client, 'disconnected');
    await o.stop();
    await disconnected;
    t.ok((await inFlight) instanceof OvsdbConnectionError, 'in-flight transaction rejected with OvsdbConnectionError');
    t.notOk(client.isConnected);
    const queued = client.transact([select('Bridge', [['name', '==', BR]], ['name'])]);
    const warnsBefore = lines.filter((l) => l.msg === 'OVSDB connection attempt failed').length;
    await new Promise((r) => setTimeout(r, 700)); // let a few attempts fail
    t.ok(lines.filter((l) => l.msg === 'OVSDB connection attempt failed').length > warnsBefore, 'failed attempts logged');
    const connected = once(client, 'connected');
    await o.start();
    await connected;
    t.same(events, ['connected', 'disconnected', 'connected']);
    t.same((await queued)[0]?.rows, [{ name: BR }], 'a request made while disconnected waited and succeeded');
    // the cur_cfg monitor is back: transactAndWait works and the port is realised
    await client.transactAndWait(accessPortOps(P2, 100, 'ep2'));
    t.ok(Number(await o.vsctl(['get', 'interface', P2, 'ofport'])) > 0);
    t.equal(await o.vsctl(['get', 'port', P2, 'tag']), '100');
  });

  await t.test('transactAndWait without an Open_vSwitch row fails clearly and commits nothing', async (t) => {
    await client.transact([del('Open_vSwitch', [])]);
    const err = await client.transactAndWait([
      insert('Open_vSwitch', { external_ids: ovsMap({ 'must-not': 'exist' }) }),
      del('Open_vSwitch', []),
    ]).catch((e: unknown) => e);
    t.ok(err instanceof OvsdbError);
    t.match(err, { code: 'not initialized', message: /Open_vSwitch table has no row.*ovs-vsctl init/ });
    const [sel] = await client.transact([select('Open_vSwitch', [], ['_uuid'])]);
    t.same(sel?.rows, []);
  });

  await t.test('close() rejects later requests and stops reconnecting', async (t) => {
    await client.close();
    t.notOk(client.isConnected);
    await t.rejects(client.transact([]), OvsdbConnectionError);
    await t.rejects(client.connect(), OvsdbConnectionError);
    t.equal(events.at(-1), 'disconnected');
    await client.close(); // idempotent
  });
});
