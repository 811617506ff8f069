// Reads of bridges and ports from the OVSDB cache (src/vswitch/reads.ts): the
// bridge that holds a port follows the monitor's updates (a port moved, or
// removed, is seen at once, though each bridge's port set is built once per
// row the cache holds).
import t from 'tap';
import { RowCache } from '../../src/ovsdb/cache.js';
import { findPort, readPort, readPorts } from '../../src/vswitch/reads.js';

const uuid = (n: number): string => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;
const [BR1, BR2, P1, P2] = [uuid(1), uuid(2), uuid(11), uuid(12)];
const ports = (...us: string[]): unknown => ['set', us.map((u) => ['uuid', u])];
const owned = ['map', [['ovsvlan-owner', 'ovsvlan']]];

t.test('the bridge of a port, through adds, moves and removals', async (t) => {
  const c = new RowCache();
  c.reset({
    Bridge: { [BR1]: { new: { name: 'br1', ports: ports(P1, P2) } }, [BR2]: { new: { name: 'br2', ports: ports() } } },
    Port: { [P1]: { new: { name: 'p1', external_ids: owned } }, [P2]: { new: { name: 'p2', external_ids: owned } } },
  });
  t.equal(findPort(c, 'p1')?.bridge, 'br1');
  t.equal(readPort(c, 'p2')?.bridge, 'br1');
  t.same(findPort(c, 'p1')?.uuid, ['uuid', P1]);
  c.apply({ Bridge: { [BR1]: { new: { name: 'br1', ports: ports(P2) } }, [BR2]: { new: { name: 'br2', ports: ports(P1) } } } });
  t.equal(findPort(c, 'p1')?.bridge, 'br2', 'moved: the new bridge');
  t.equal(findPort(c, 'p2')?.bridge, 'br1');
  c.apply({ Bridge: { [BR2]: { new: { name: 'br2', ports: ports() } } } });
  t.equal(findPort(c, 'p1')?.bridge, undefined, 'on no bridge any more');
  t.same(readPorts(c).map((p) => [p.name, p.bridge]).sort(), [['p1', undefined], ['p2', 'br1']]);
  t.equal(findPort(c, 'nope'), undefined);
});
