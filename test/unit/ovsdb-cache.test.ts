// RowCache: a monitor's initial contents and `update` notifications (RFC 7047
// §4.1.6) applied to rows by UUID, with the name index readers look rows up by.
import t from 'tap';
import { RowCache } from '../../src/ovsdb/cache.js';

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';

t.test('initial rows, insert, modify, delete', async (t) => {
  const c = new RowCache();
  c.reset({ Port: { [U1]: { new: { name: 'p1', tag: 10 } } } });
  t.same(c.row('Port', U1), { name: 'p1', tag: 10, _uuid: ['uuid', U1] }, 'a row carries its UUID');
  t.equal(c.uuidByName('Port', 'p1'), U1);
  t.same(c.row('Port', ['uuid', U1])?.['tag'], 10, 'looked up by ["uuid", …] too');

  c.apply({ Port: { [U2]: { new: { name: 'p2' } } } });
  t.equal(c.rows('Port').size, 2, 'insert');
  c.apply({ Port: { [U1]: { old: { tag: 10 }, new: { name: 'p1', tag: 20 } } } });
  t.equal(c.row('Port', U1)?.['tag'], 20, 'modify replaces the row with "new"');
  c.apply({ Port: { [U1]: { old: { name: 'p1', tag: 20 } } } });
  t.equal(c.row('Port', U1), undefined, 'no "new": deleted');
  t.equal(c.uuidByName('Port', 'p1'), undefined, 'and gone from the name index');
  t.equal(c.uuidByName('Port', 'p2'), U2);
});

t.test('a rename moves the name index; a name reused by a new row points at it', async (t) => {
  const c = new RowCache();
  c.reset({ Bridge: { [U1]: { new: { name: 'a' } } } });
  c.apply({ Bridge: { [U1]: { old: { name: 'a' }, new: { name: 'b' } } } });
  t.equal(c.uuidByName('Bridge', 'a'), undefined);
  t.equal(c.uuidByName('Bridge', 'b'), U1);
  // delete and re-create under the same name in one update (ovs-vsctl del-br + add-br)
  c.apply({ Bridge: { [U2]: { new: { name: 'b' } }, [U1]: { old: { name: 'b' } } } });
  t.equal(c.uuidByName('Bridge', 'b'), U2, 'the index is not dropped by the older row going');
});

t.test('reset and clear forget everything; junk is ignored', async (t) => {
  const c = new RowCache();
  c.reset({ Port: { [U1]: { new: { name: 'p1' } } } });
  c.reset({ Interface: { [U2]: { new: { name: 'i2' } } } });
  t.equal(c.rows('Port').size, 0, 'reset replaces');
  t.equal(c.rows('Interface').size, 1);
  c.clear();
  t.equal(c.rows('Interface').size, 0);
  t.equal(c.uuidByName('Interface', 'i2'), undefined);
  c.apply(null);
  c.apply('x');
  c.apply({ Port: null });
  t.equal(c.rows('Port').size, 0, 'a table never seen is empty');
});
