// The routes are adapters: each reads its typed request and makes one driver
// call (the two-step calls, such as CreateEndpoint's port and address claim,
// are sequenced and undone by the driver: test/unit/endpoint.test.ts).
import t from 'tap';
import { routes } from '../../src/protocol/routes.js';
import type { NetworkDriver } from '../../src/driver/driver.js';
import type { IpamDriver } from '../../src/ipam/driver.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

function world() {
  const calls: Array<[string, unknown]> = [];
  const driver = {
    createNetwork: async (req: unknown) => (calls.push(['createNetwork', req]), { created: true }),
    deleteNetwork: async (id: string) => void calls.push(['deleteNetwork', id]),
    createEndpoint: async (req: unknown) => (calls.push(['createEndpoint', req]), { created: true }),
    deleteEndpoint: async (net: string, ep: string) => void calls.push(['deleteEndpoint', [net, ep]]),
  };
  // the fakes implement only what these routes call; the IPAM is not called by them
  const table = routes(driver as unknown as NetworkDriver, {} as IpamDriver);
  return { calls, table };
}

t.test('CreateEndpoint: one driver call with the typed request, nothing echoed back', async (t) => {
  const { calls, table } = world();
  const res = await table['/NetworkDriver.CreateEndpoint']?.({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.1.0.5/24' } });
  t.same(res, { Interface: {} });
  t.same(calls, [['createEndpoint', { networkId: NET, endpointId: EP, addressV4: '10.1.0.5/24', addressV6: undefined, macAddress: undefined }]]);
});

t.test('CreateNetwork and DeleteNetwork: one driver call each', async (t) => {
  const { calls, table } = world();
  await table['/NetworkDriver.CreateNetwork']?.({ NetworkID: NET, Options: {}, IPv4Data: [{ Pool: '10.1.0.0/24', Gateway: '10.1.0.1/24' }], IPv6Data: [] });
  await table['/NetworkDriver.DeleteNetwork']?.({ NetworkID: NET });
  t.same(calls.map(([name]) => name), ['createNetwork', 'deleteNetwork']);
  t.match(calls[0]?.[1], { networkId: NET, ipv4: [{ pool: '10.1.0.0/24', gateway: '10.1.0.1/24', aux: {} }] });
});

t.test('a driver failure is the route\'s failure', async (t) => {
  const { table } = world();
  const failing = routes({ createEndpoint: async () => { throw new Error('cannot save'); } } as unknown as NetworkDriver, {} as IpamDriver);
  await t.rejects(Promise.resolve(failing['/NetworkDriver.CreateEndpoint']?.({ NetworkID: NET, EndpointID: EP, Interface: {} })), /cannot save/);
  t.ok(table['/NetworkDriver.DeleteEndpoint']);
});
