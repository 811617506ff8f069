import t from 'tap';
import { isOurLinkName, isValidBridgeName, portExternalIds, vethNames } from '../../src/names.js';

const ep = 'a3f9c2d41b7e8f90a3f9c2d41b7e8f90a3f9c2d41b7e8f90a3f9c2d41b7e8f90';

t.test('veth names are deterministic, distinct and fit IFNAMSIZ', async (t) => {
  const n = vethNames(ep);
  t.same(n, vethNames(ep));
  t.not(n.host, n.container);
  t.ok(n.host.length <= 15 && n.container.length <= 15);
  t.ok(isOurLinkName(n.host) && isOurLinkName(n.container));
  t.notOk(isOurLinkName('eth0'));
  t.notOk(isOurLinkName('ovhzzzzzzzzzzzz'));
});

t.test('external_ids carry owner, network and endpoint', async (t) => {
  t.same(portExternalIds('net1', ep), { 'ovsvlan-owner': 'ovsvlan', 'ovsvlan-role': 'endpoint', 'ovsvlan-network': 'net1', 'ovsvlan-endpoint': ep });
});

t.test('bridge names', async (t) => {
  for (const ok of ['ovs0', 'br-int', 'a', 'x.1_2-3', '123456789012345']) t.ok(isValidBridgeName(ok), ok);
  for (const bad of ['', '1234567890123456', 'a b', 'a/b', '-x', 'ä', 'a;b']) t.notOk(isValidBridgeName(bad), bad);
});
