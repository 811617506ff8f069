import t from 'tap';
import {
  describeOwner, hasMarks, hasReservedPrefix, infraExternalIds, isOurLinkName, isValidBridgeName, linkMark, networkPortNames, overlayBridgeName,
  portExternalIds, portNamesOf, spareExternalIds, spareMark, spareNetworkOf, spareVethNames, vethNames,
} from '../../src/names.js';

const ep = 'a3f9c2d41b7e8f90a3f9c2d41b7e8f90a3f9c2d41b7e8f90a3f9c2d41b7e8f90';
/** Two IDs whose names collide on purpose: SHA-256 agrees on 48 bits (found with Floyd's cycle search, ~10^8 hashes). */
export const COLLIDING_IDS = [
  '27acd966b8ee0000000000000000000000000000000000000000000000000000',
  '3811e66e52560000000000000000000000000000000000000000000000000000',
] as const;

t.test('veth names are deterministic, distinct and fit IFNAMSIZ', async (t) => {
  const n = vethNames(ep);
  t.same(n, vethNames(ep));
  t.not(n.host, n.container);
  t.ok(n.host.length <= 15 && n.container.length <= 15);
  t.ok(isOurLinkName(n.host) && isOurLinkName(n.container));
  t.notOk(isOurLinkName('eth0'));
  t.notOk(isOurLinkName('ovhzzzzzzzzzzzz'));
});

t.test('IDs that share their first characters get names of their own', async (t) => {
  const other = `${ep.slice(0, 12)}${'0'.repeat(52)}`;
  t.not(vethNames(ep).host, vethNames(other).host, 'endpoints sharing 12 characters');
  t.not(vethNames(ep).host, `ovh${ep.slice(0, 12)}`, 'not the ID\'s first characters');
  t.not(overlayBridgeName(ep), overlayBridgeName(other), 'overlay bridges');
  const a = networkPortNames(ep, 3, true);
  const b = networkPortNames(`${ep.slice(0, 10)}${'f'.repeat(54)}`, 3, true);
  t.equal(new Set([...a.tunnels, ...b.tunnels]).size, 6, 'tunnel ports of networks sharing 10 characters, and of one network\'s remotes');
  t.not(a.host, b.host, 'host ports');
  for (const name of [...a.tunnels, a.host ?? '', overlayBridgeName(ep)]) {
    t.ok(name.length === 15 && hasReservedPrefix(name), `${name}: 15 characters, a name users cannot take`);
  }
  t.equal(networkPortNames(ep, 0, false).host, undefined, 'no host port without host_ip');
});

t.test('a deliberate collision exists, so names alone are never trusted', async (t) => {
  const [x, y] = COLLIDING_IDS;
  t.not(x, y);
  t.equal(vethNames(x).host, vethNames(y).host, 'the two IDs get one veth name');
  t.not(linkMark(x), linkMark(y), 'but their marks differ');
  t.notOk(hasMarks(portExternalIds('n', x), portExternalIds('n', y)), 'and so do their ports\' marks');
});

t.test('records made before issue 9 keep the names they were made with', async (t) => {
  const legacy = { id: ep, remotes: ['192.0.2.1', '192.0.2.2'], hostIp: '10.0.0.1/24' };
  t.same(portNamesOf(legacy), { tunnels: [`ovt${ep.slice(0, 10)}00`, `ovt${ep.slice(0, 10)}01`], host: `ovi${ep.slice(0, 12)}` });
  const ports = networkPortNames(ep, 2, true);
  t.same(portNamesOf({ ...legacy, ports }), ports, 'a new record holds its names');
  t.ok(isOurLinkName(`ovh${ep.slice(0, 12)}`), 'an old veth name is still ours (orphans are found)');
});

t.test('marks: the same owner, network and endpoint', async (t) => {
  const mine = portExternalIds('net1', ep);
  t.same(mine, { 'ovsvlan-owner': 'ovsvlan', 'ovsvlan-role': 'endpoint', 'ovsvlan-network': 'net1', 'ovsvlan-endpoint': ep });
  t.ok(hasMarks({ ...mine, extra: 'x' }, mine), 'other keys do not matter');
  const { 'ovsvlan-role': _role, ...beforeRoles } = mine;
  t.ok(hasMarks(beforeRoles, mine), 'an endpoint port written before roles existed');
  t.notOk(hasMarks(portExternalIds('net2', ep), mine), 'another network');
  t.notOk(hasMarks({}, mine), 'not ovsvlan\'s');
  t.notOk(hasMarks(infraExternalIds('tunnel', 'net1'), infraExternalIds('host', 'net1')), 'another role');
  t.match(describeOwner(mine), /^endpoint a3f9c2d41b7e of network net1$/);
  t.equal(describeOwner({}), 'not ovsvlan\'s');
  t.equal(describeOwner(infraExternalIds('tunnel', 'net1')), 'ovsvlan\'s tunnel of network net1');
});

t.test('bridge names', async (t) => {
  for (const ok of ['ovs0', 'br-int', 'a', 'x.1_2-3', '123456789012345']) t.ok(isValidBridgeName(ok), ok);
  for (const bad of ['', '1234567890123456', 'a b', 'a/b', '-x', 'ä', 'a;b']) t.notOk(isValidBridgeName(bad), bad);
});

t.test('spares: random names of the endpoints\' form, their marks, and the alias read back', async (t) => {
  const a = spareVethNames();
  const b = spareVethNames();
  t.ok(isOurLinkName(a.host) && isOurLinkName(a.container), 'named like ovsvlan\'s links: reconciliation knows them');
  t.equal(a.host.slice(3), a.container.slice(3), 'both ends share their digits');
  t.not(a.host, b.host, 'random');
  const net = 'f'.repeat(64);
  t.same(spareExternalIds(net), { 'ovsvlan-owner': 'ovsvlan', 'ovsvlan-role': 'spare', 'ovsvlan-network': net });
  t.notOk(hasMarks(spareExternalIds(net), portExternalIds(net, 'e'.repeat(64))), 'a spare is no endpoint\'s port');
  t.equal(spareMark(net), `ovsvlan-spare=${net}`);
  t.equal(spareNetworkOf(spareMark(net)), net);
  t.equal(spareNetworkOf(linkMark(net)), undefined, 'an endpoint\'s alias is no spare\'s');
  t.equal(spareNetworkOf(undefined), undefined);
});
