// The request readers (src/protocol/requests.ts): what Docker 20.10 to 29
// really sends is read into typed requests (null maps, Swarm network IDs, an
// absent gateway, a MAC, an IPv6-only network); every field of another type,
// form or length is refused with an error that names it and its form, and
// repeats at most a short prefix of what was sent. The same cases against the
// running daemon, with nothing changed: test/e2e/hostile.test.ts.
import t from 'tap';
import { InvalidRequestError, quoted, SHOWN_CHARS } from '../../src/errors.js';
import { parseBody, type Body } from '../../src/protocol/decode.js';
import { AT_ONCE_CHARS, MAX_DEPTH, MAX_ITEMS, MAX_KEYS, parseJson, TooLargeError } from '../../src/protocol/json.js';
import {
  createEndpointReq, createNetworkReq, endpointReq, gwAllocCheckReq, joinReq, releaseAddressReq, requestAddressReq, requestPoolReq,
} from '../../src/protocol/requests.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const SWARM_NET = 'qsdyqu5nlhfp6ahxdrv1ps0ws';
const HUGE = 'A'.repeat(3_000_000);

t.test('what Docker sends is read', async (t) => {
  t.same(createNetworkReq({
    NetworkID: NET,
    Options: { 'com.docker.network.generic': { vlan: '860' }, 'com.docker.network.enable_ipv6': false, 'com.docker.network.enable_ipv4': true, 'com.docker.network.internal': true },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.1.0.0/24', Gateway: '10.1.0.1/24', AuxAddresses: { h1: '10.1.0.5/24' } }],
    IPv6Data: [],
  }), { networkId: NET, generic: { vlan: '860' }, internal: true, ipv4: [{ pool: '10.1.0.0/24', gateway: '10.1.0.1/24', aux: { h1: '10.1.0.5/24' }, addressSpace: 'LocalDefault' }], ipv6: [] });
  t.same(createNetworkReq({ NetworkID: SWARM_NET, Options: null, IPv4Data: null, IPv6Data: null }),
    { networkId: SWARM_NET, generic: {}, internal: false, ipv4: [], ipv6: [] }, 'a Swarm network ID; null maps and lists (Go nil)');
  t.same(createNetworkReq({ NetworkID: NET, Options: { 'com.docker.network.generic': null }, IPv4Data: [{ AddressSpace: 'x', Pool: '10.1.0.0/24' }] }).ipv4,
    [{ pool: '10.1.0.0/24', gateway: undefined, aux: {}, addressSpace: 'x' }], '28.0: no Gateway after GwAllocCheck said skip');
  t.same(createEndpointReq({ NetworkID: NET, EndpointID: EP, Interface: { Address: '', AddressIPv6: 'fd00::5/64', MacAddress: '02:42:0a:01:00:05' }, Options: null }),
    { networkId: NET, endpointId: EP, addressV4: undefined, addressV6: 'fd00::5/64', macAddress: '02:42:0a:01:00:05' }, 'IPv6-only endpoint with a MAC (25.0+)');
  t.same(joinReq({ NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/1a2b3c4d5e6f', Options: { 'com.docker.network.portmap': [] } }),
    { networkId: NET, endpointId: EP, sandboxKey: '/var/run/docker/netns/1a2b3c4d5e6f' });
  t.same(gwAllocCheckReq({ Options: { 'com.docker.network.internal': true } }), { internal: true });
  t.same(requestPoolReq({ AddressSpace: 'ovsvlan-local', Pool: '0.0.0.0/24', SubPool: '', Options: null, V6: false }),
    { addressSpace: 'ovsvlan-local', pool: '0.0.0.0/24', subPool: '', v6: false }, "29.0's --subnet 0.0.0.0/24, verbatim");
  t.same(requestAddressReq({ PoolID: '10.1.0.0/24#0123abcd', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }),
    { poolId: '10.1.0.0/24#0123abcd', address: '', gateway: true });
  t.same(releaseAddressReq({ PoolID: 'fd00::/64#0123abcd', Address: 'fd00::5' }), { poolId: 'fd00::/64#0123abcd', address: 'fd00::5' });
});

type Reader = (b: Body) => unknown;
const cases: Array<[string, Reader, Body, RegExp]> = [
  ['empty body (a retried call)', endpointReq, {}, /^request has no NetworkID$/],
  ['NetworkID of the wrong type', endpointReq, { NetworkID: 42, EndpointID: EP }, /^NetworkID must be a string, not the number 42$/],
  ['NetworkID 3 MB long', endpointReq, { NetworkID: HUGE, EndpointID: EP }, /^NetworkID must be a Docker network ID: 64 lowercase hexadecimal.*; got "A{64}"…$/],
  ['NetworkID in upper case', endpointReq, { NetworkID: NET.toUpperCase(), EndpointID: EP }, /^NetworkID must be a Docker network ID/],
  ['EndpointID 3 MB long', endpointReq, { NetworkID: NET, EndpointID: HUGE }, /^EndpointID must be a Docker endpoint ID: 64 lowercase hexadecimal characters; got "A{64}"…$/],
  ['EndpointID with a newline', endpointReq, { NetworkID: NET, EndpointID: `${EP.slice(1)}\n` }, /got "b{63}\\n"$/],
  ['EndpointID as a list', endpointReq, { NetworkID: NET, EndpointID: [EP] }, /^EndpointID must be a string, not a list$/],
  ['Options a string', createNetworkReq, { NetworkID: NET, Options: 'vlan=5' }, /^Options must be a JSON object, not "vlan=5"$/],
  ['vlan as a JSON number', createNetworkReq, { NetworkID: NET, Options: { 'com.docker.network.generic': { vlan: 1e3 } } },
    /^Options\.com\.docker\.network\.generic\["vlan"\] must be a string, not the number 1000$/],
  ['internal as a string', createNetworkReq, { NetworkID: NET, Options: { 'com.docker.network.internal': 'yes' } },
    /^Options\.com\.docker\.network\.internal must be true or false, not "yes"$/],
  ['IPv4Data an object', createNetworkReq, { NetworkID: NET, IPv4Data: {} }, /^IPv4Data must be a list, not a JSON object$/],
  ['IPv4Data item a string', createNetworkReq, { NetworkID: NET, IPv4Data: ['10.1.0.0/24'] }, /^IPv4Data\[0\] must be a JSON object, not "10\.1\.0\.0\/24"$/],
  ['IPv4Data without Pool', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Gateway: '10.1.0.1/24' }] }, /^request has no IPv4Data\[0\]\.Pool$/],
  ['Pool with host bits', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.7/24' }] }, /^IPv4Data\[0\]\.Pool must be an IPv4 CIDR with no host bits set/],
  ['IPv6 Pool in IPv4Data', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Pool: 'fd00::/64' }] }, /^IPv4Data\[0\]\.Pool must be an IPv4 CIDR/],
  ['Gateway "$(id)/99"', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.0/24', Gateway: '$(id)/99' }] },
    /^IPv4Data\[0\]\.Gateway must be an IPv4 address with prefix length, e\.g\. 10\.1\.0\.5\/24; got "\$\(id\)\/99"$/],
  ['Gateway outside the pool', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.0/24', Gateway: '10.2.0.1/24' }] },
    /^IPv4Data\[0\]\.Gateway must be an address inside Pool 10\.1\.0\.0\/24; got "10\.2\.0\.1\/24"$/],
  ['Gateway without a mask', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.0/24', Gateway: '10.1.0.1' }] }, /Gateway must be an IPv4 address with prefix length/],
  ['aux address outside the pool', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.0/24', AuxAddresses: { a: '10.9.0.1/24' } }] },
    /^IPv4Data\[0\]\.AuxAddresses\.a must be an address inside Pool/],
  ['aux address a number', createNetworkReq, { NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.0/24', AuxAddresses: { a: 5 } }] },
    /^IPv4Data\[0\]\.AuxAddresses\["a"\] must be a string, not the number 5$/],
  ['aux address name of newlines and 255 characters, outside the pool', createNetworkReq,
    { NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.0/24', AuxAddresses: { [`a\n${'b'.repeat(253)}`]: '10.9.0.1/24' } }] },
    /^IPv4Data\[0\]\.AuxAddresses\["a\\nb{62}"…\] must be an address inside Pool/],
  ['65 pools', createNetworkReq, { NetworkID: NET, IPv4Data: Array.from({ length: 65 }, () => ({ Pool: '10.1.0.0/24' })) }, /^IPv4Data must hold at most 64 items, not 65$/],
  ['endpoint Address without a mask', createEndpointReq, { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.1.0.5' } },
    /^Interface\.Address must be an IPv4 address with prefix length/],
  ['endpoint IPv6 address in Address', createEndpointReq, { NetworkID: NET, EndpointID: EP, Interface: { Address: 'fd00::5/64' } }, /^Interface\.Address must be an IPv4 address/],
  ['endpoint address with a zone', createEndpointReq, { NetworkID: NET, EndpointID: EP, Interface: { AddressIPv6: 'fe80::5%eth0/64' } }, /^Interface\.AddressIPv6 must be an IPv6 address/],
  ['MacAddress not a MAC', createEndpointReq, { NetworkID: NET, EndpointID: EP, Interface: { MacAddress: '02:42:zz' } }, /^Interface\.MacAddress must be a MAC address/],
  ['SandboxKey not a path', joinReq, { NetworkID: NET, EndpointID: EP, SandboxKey: 'netns/1' }, /^SandboxKey must be an absolute path/],
  ['AddressSpace of another IPAM', requestPoolReq, { AddressSpace: 'LocalDefault', Pool: '', V6: false }, /^AddressSpace must be ovsvlan-local or ovsvlan-global/],
  ['V6 as a string', requestPoolReq, { AddressSpace: 'ovsvlan-local', V6: 'true' }, /^V6 must be true or false, not "true"$/],
  ['Pool with a trailing space', requestPoolReq, { AddressSpace: 'ovsvlan-local', Pool: '10.1.0.0/24 ', V6: false }, /^Pool must be an IPv4 CIDR with no host bits set \(docker network create --subnet\), e\.g\. 10\.1\.0\.0\/24; got "10\.1\.0\.0\/24 "$/],
  ['SubPool of the other family', requestPoolReq, { AddressSpace: 'ovsvlan-local', Pool: '10.1.0.0/24', SubPool: 'fd00::/64', V6: false }, /^SubPool must be an IPv4 CIDR with no host bits set \(docker network create --ip-range\)/],
  ['RequestAddress in CIDR form', requestAddressReq, { PoolID: '10.1.0.0/24#0123abcd', Address: '10.1.0.5/24' },
    /^Address must be an IP address without prefix length, e\.g\. 10\.1\.0\.5 or fd00::5 \(no \/length: Docker sends the plain address\); got "10\.1\.0\.5\/24"$/],
  ['RequestAddress with a zone', requestAddressReq, { PoolID: '10.1.0.0/24#0123abcd', Address: 'fe80::1%eth0' }, /^Address must be an IP address without prefix length/],
  ['PoolID made up', requestAddressReq, { PoolID: 'x'.repeat(1000), Address: '' }, /^PoolID must be a PoolID that RequestPool answered, e\.g\. 10\.1\.0\.0\/24#0123abcd; got "x{64}"…$/],
  ['RequestAddress option a number', requestAddressReq, { PoolID: '10.1.0.0/24#0123abcd', Options: { RequestAddressType: 1 } }, /^Options\["RequestAddressType"\] must be a string/],
  ['ReleaseAddress in CIDR form', releaseAddressReq, { PoolID: '10.1.0.0/24#0123abcd', Address: '10.1.0.5/24' }, /^Address must be an IP address without prefix length/],
  ['ReleaseAddress without Address', releaseAddressReq, { PoolID: '10.1.0.0/24#0123abcd' }, /^request has no Address$/],
];

t.test('--aux-address =10.1.0.5 (an empty name, which the CLI takes) is accepted', async (t) => {
  t.same(createNetworkReq({ NetworkID: NET, IPv4Data: [{ Pool: '10.1.0.0/24', AuxAddresses: { '': '10.1.0.5/24' } }] }).ipv4[0]?.aux, { '': '10.1.0.5/24' });
});

for (const [name, read, body, message] of cases) {
  t.test(name, async (t) => {
    const err = t.throws(() => read(body)) as Error;
    t.ok(err instanceof InvalidRequestError, 'InvalidRequestError');
    t.match(err.message, message);
    t.ok(err.message.length < 300 + SHOWN_CHARS, `a short message (${err.message.length} characters)`);
  });
}

t.test('bodies that are no JSON object', async (t) => {
  t.same(await parseBody(''), {}, 'empty: every field missing');
  await t.rejects(parseBody('{"NetworkID": "a'), /request body is not JSON/, 'truncated');
  await t.rejects(parseBody('[1,2]'), /request body is not a JSON object/);
  await t.rejects(parseBody('null'), /request body is not a JSON object/);
  t.same(Object.keys(await parseBody('{"__proto__": {"x": 1}}')), ['__proto__'], '__proto__ stays a plain key');
});

t.test('a large body is parsed in time slices, to what JSON.parse gives', async (t) => {
  const pad = ' '.repeat(AT_ONCE_CHARS); // past the size parsed at once, meaning unchanged
  const valid = ['{}', '[]', '{"a":[1,-2.5e3,0,true,false,null,"x"],"b":{"c":{}}}', '"\\u00e9\\n\\"\\\\"', '{"__proto__":{"x":1},"a":1,"a":2}',
    '[[[[[]]]]]', '{"k":"\\ud800","\\u0000":""}', '0', '-0', '1E+2', `{"s":"${'é'.repeat(50_000)}"}`, ' \t\n\r[ 1 , { "a" : [ ] } ]\n'];
  for (const text of valid) {
    const want: unknown = JSON.parse(text);
    const got = await parseJson(pad + text);
    t.same(got, want, `${text.slice(0, 40)}`);
    if (text.includes('__proto__')) t.same(Object.keys(got as object), ['__proto__', 'a'], '__proto__ an own key, the last "a" kept');
  }
  const invalid = ['', '{', '{"a":1,}', '[1,]', '{"a" 1}', '{a:1}', "{'a':1}", '[01]', '[1.]', '[.5]', '[+1]', '[-]', '[tru]', '[nul]', 'nullx',
    '["a\tb"]', '["\\x"]', '["unterminated]', '{"a":1}}', '[1 2]', '[NaN]', '[Infinity]', '{"a":1,"b"}', '["\\u12"]', '[1]x'];
  for (const text of invalid) {
    t.throws(() => JSON.parse(text), `JSON.parse refuses ${JSON.stringify(text)}`);
    await t.rejects(parseJson(pad + text), SyntaxError, `and so does parseJson: ${JSON.stringify(text)}`);
  }
  // nesting costs no recursion, up to its bound; a hostile body past a bound is refused
  const nested = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
  let depth = 0;
  for (let v = await parseJson(pad + nested(MAX_DEPTH)); Array.isArray(v); v = v[0]) depth++;
  t.equal(depth, MAX_DEPTH, `${MAX_DEPTH} nested lists`);
  await t.rejects(parseJson(nested(5_000_000)), new TooLargeError('lists or objects nested deeper than 512 levels'), '5,000,000 nested lists');
  await t.rejects(parseJson(`[${'0,'.repeat(MAX_ITEMS)}0]`), new TooLargeError('a list of more than 262144 items'));
  await t.rejects(parseJson(`{${Array.from({ length: MAX_KEYS + 1 }, (_, i) => `"k${i}":0`).join(',')}}`), new TooLargeError('an object of more than 4096 keys'));
  await t.rejects(parseBody(nested(MAX_DEPTH + 1)), /^request body is not a JSON object$/, 'a small body is JSON.parse\'s whole: no bound (it is short), parsed');
  await t.rejects(parseBody(`{"a":${nested(5_000_000)}}`), /^request body holds lists or objects nested deeper than 512 levels; Docker sends no such body$/);
  t.equal((await parseJson(`{"portmap":[${Array(2 * 65535).fill('{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080}').join(',')}]}`) as { portmap: unknown[] }).portmap.length,
    2 * 65535, 'Docker\'s largest body, a port map of every port twice (TCP and UDP), is parsed');
});

t.test('while a large body is parsed, other work runs (order, not time)', async (t) => {
  const entries = Array(2 * 65535).fill('{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080}').join(',');
  const order: string[] = [];
  const parsing = parseBody(`{"Options":{"com.docker.network.portmap":[${entries}]}}`).then(() => order.push('parsed'));
  setImmediate(() => order.push('another request'));
  await parsing;
  t.same(order, ['another request', 'parsed'], 'the event loop ran before the parse of a 10 MB port map ended');
});

t.test('a caller value in an error: quoted, escaped, cut after 64 characters', async (t) => {
  t.equal(quoted('br0'), '"br0"');
  t.equal(quoted('a'.repeat(SHOWN_CHARS + 1)), `"${'a'.repeat(SHOWN_CHARS)}"…`);
  t.equal(quoted('x\n"y'), '"x\\n\\"y"', 'control characters and quotes');
  t.equal(quoted('ab\u202ecd\u2028\u200b\u0085'), '"ab\\u202ecd\\u2028\\u200b\\u0085"', 'direction marks, line separators, zero-width and C1 characters');
  t.equal(quoted('é'), '"é"', 'visible unicode stays');
});
