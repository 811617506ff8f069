// OVSDB notation helpers, operation builders and transact-result checking: pure, no server.
import t from 'tap';
import {
  fromOvsMap,
  fromOvsSet,
  isAtom,
  namedUuid,
  ovsMap,
  ovsSet,
  uuid,
  uuidOf,
  type Value,
} from '../../src/ovsdb/notation.js';
import { del, insert, mutate, select, update, wait, type Operation } from '../../src/ovsdb/ops.js';
import { OvsdbError, checkTransactResult } from '../../src/ovsdb/errors.js';

const U1 = '2a6b6bd6-5cf1-4a5c-8a4f-0d2b0a8b1d00';
const U2 = 'bb54ea36-62ba-46e2-9fb1-645e8104850b';

t.test('maps round-trip, through JSON too', async (t) => {
  const rec = { 'ovsvlan-net': 'abc', empty: '', 'ü-key': 'wert €' };
  const m = ovsMap(rec);
  t.same(m, ['map', [['ovsvlan-net', 'abc'], ['empty', ''], ['ü-key', 'wert €']]]);
  t.same(fromOvsMap(m), rec);
  t.same(fromOvsMap(JSON.parse(JSON.stringify(m)) as Value), rec);
  t.same(fromOvsMap(ovsMap({})), {});
  t.same(fromOvsMap(undefined), {}, 'absent column is an empty map');
  // other maps the server sends (Interface.statistics: string → integer; QoS.queues: integer → uuid)
  t.same(fromOvsMap(['map', [['rx_packets', 7]]]), { rx_packets: '7' });
  t.same(fromOvsMap(['map', [[0, ['uuid', U1]]]]), { 0: U1 });
  t.throws(() => fromOvsMap('x'), TypeError);
  t.throws(() => fromOvsMap(['set', []]), TypeError);
});

t.test('sets round-trip; a bare atom is a one-element set (RFC 7047 §5.1)', async (t) => {
  t.same(ovsSet([1, 2, 3]), ['set', [1, 2, 3]]);
  t.same(fromOvsSet<number>(ovsSet([1, 2, 3])), [1, 2, 3]);
  t.same(fromOvsSet(ovsSet([])), []);
  t.same(fromOvsSet<number>(42), [42], 'Port.tag as the server sends it');
  t.same(fromOvsSet<string>('eth0'), ['eth0']);
  t.same(fromOvsSet(['uuid', U1]), [['uuid', U1]], 'a bare uuid atom is not mistaken for a set');
  t.same(fromOvsSet(undefined), []);
  t.same(fromOvsSet(ovsSet([uuid(U1), uuid(U2)])).map((u) => uuidOf(u)), [U1, U2]);
  t.throws(() => fromOvsSet(ovsMap({ a: 'b' })), TypeError);
  const items = [1];
  const s = ovsSet(items);
  items.push(2);
  t.same(s, ['set', [1]], 'ovsSet copies its input');
});

t.test('uuid, named-uuid and uuidOf', async (t) => {
  t.same(uuid(U1), ['uuid', U1]);
  t.equal(uuidOf(uuid(U1)), U1);
  t.equal(uuidOf(JSON.parse(`["uuid","${U2}"]`) as Value), U2);
  t.same(namedUuid('port_1'), ['named-uuid', 'port_1']);
  t.throws(() => uuid('not-a-uuid'), TypeError);
  t.throws(() => namedUuid('1abc'), TypeError, 'RFC 7047 <id> must not start with a digit');
  t.throws(() => namedUuid('a-b'), TypeError);
  t.throws(() => uuidOf(namedUuid('x')), TypeError);
  t.throws(() => uuidOf(undefined), TypeError);
  t.ok(isAtom(uuid(U1)) && isAtom(namedUuid('x')) && isAtom(0) && isAtom(false) && isAtom(''));
  t.notOk(isAtom(ovsSet([])) || isAtom(ovsMap({})) || isAtom(null));
});

t.test('operation builders produce RFC 7047 §5.2 objects', async (t) => {
  t.same(insert('Port', { name: 'p1' }, 'p'), { op: 'insert', table: 'Port', row: { name: 'p1' }, 'uuid-name': 'p' });
  t.same(insert('Port', { name: 'p1' }), { op: 'insert', table: 'Port', row: { name: 'p1' } });
  t.notOk('uuid-name' in insert('Port', {}), 'no undefined key on the wire');
  t.same(select('Bridge', [['name', '==', 'b']], ['_uuid']), {
    op: 'select', table: 'Bridge', where: [['name', '==', 'b']], columns: ['_uuid'],
  });
  t.notOk('columns' in select('Bridge', []));
  t.same(update('Port', [['_uuid', '==', uuid(U1)]], { tag: 5 }), {
    op: 'update', table: 'Port', where: [['_uuid', '==', ['uuid', U1]]], row: { tag: 5 },
  });
  t.same(mutate('Bridge', [], [['ports', 'delete', ovsSet([uuid(U1)])]]), {
    op: 'mutate', table: 'Bridge', where: [], mutations: [['ports', 'delete', ['set', [['uuid', U1]]]]],
  });
  t.same(del('Port', [['name', '==', 'x']]), { op: 'delete', table: 'Port', where: [['name', '==', 'x']] });
  t.same(wait('Open_vSwitch', [], [], '!=', [], 0), {
    op: 'wait', table: 'Open_vSwitch', where: [], columns: [], until: '!=', rows: [], timeout: 0,
  });
  t.notOk('timeout' in wait('T', [], [], '==', []));
});

t.test('checkTransactResult maps RFC 7047 §4.1.3 results', async (t) => {
  const ops: Operation[] = [insert('Interface', { name: 'i' }, 'i'), insert('Port', { name: 'p', tag: 5000 }), { op: 'comment', comment: 'c' }];
  const ok = [{ uuid: ['uuid', U1] }, { uuid: ['uuid', U2] }, {}];
  t.same(checkTransactResult(ops, ok), ok);

  // an operation failed: its result is the error, the later ones are null
  const failed = [{ uuid: ['uuid', U1] }, { error: 'constraint violation', details: '5000 is not in the valid range' }, null];
  const e1 = t.throws(() => checkTransactResult(ops, failed)) as OvsdbError;
  t.ok(e1 instanceof OvsdbError);
  t.equal(e1.code, 'constraint violation');
  t.equal(e1.opIndex, 1);
  t.equal(e1.op, ops[1]);
  t.equal(e1.details, '5000 is not in the valid range');
  t.match(e1.message, /operation 1 \(insert into Port\): constraint violation: 5000/);

  // every operation succeeded but the commit failed: one extra trailing <error>
  const commitFailed = [...ok, { error: 'referential integrity violation', details: 'references nonexistent row' }];
  const e2 = t.throws(() => checkTransactResult(ops, commitFailed)) as OvsdbError;
  t.equal(e2.code, 'referential integrity violation');
  t.equal(e2.opIndex, undefined, 'a commit failure belongs to no single operation');
  t.match(e2.message, /commit failed/);

  // syntax errors carry the offending JSON
  const syntaxErr = [{ error: 'unknown column', details: 'No column nome', syntax: { nome: 1 } }];
  const e3 = t.throws(() => checkTransactResult(ops, syntaxErr)) as OvsdbError;
  t.equal(e3.code, 'unknown column');
  t.match(e3.details, /No column nome; syntax: \{"nome":1\}/);

  t.throws(() => checkTransactResult(ops, { error: 'x' }), OvsdbError);
  t.throws(() => checkTransactResult(ops, [{}]), { code: 'syntax error' }, 'too few results');
});
