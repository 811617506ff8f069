// The two-step calls (the driver's step, then the IPAM's record of it) leave
// nothing behind when the second step fails: the driver's step is undone and
// the call fails with the IPAM's error. Fakes stand in for the driver and the
// IPAM: this is the routes' sequencing alone (the steps themselves are tested
// against real OVS in test/e2e/).
import t from 'tap';
import { routes } from '../../src/protocol/routes.js';
import type { NetworkDriver } from '../../src/driver/driver.js';
import type { IpamDriver } from '../../src/ipam/driver.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

function world(failing: 'bindNetwork' | 'claimAddresses' | undefined, created = true) {
  const calls: string[] = [];
  const driver = {
    createNetwork: async () => (calls.push('createNetwork'), { created }),
    deleteNetwork: async (id: string) => (calls.push(`deleteNetwork ${id.slice(0, 4)}`), []),
    createEndpoint: async () => (calls.push('createEndpoint'), { created }),
    deleteEndpoint: async (net: string, ep: string) => void calls.push(`deleteEndpoint ${net.slice(0, 4)} ${ep.slice(0, 4)}`),
  };
  const step = (name: 'bindNetwork' | 'claimAddresses') => async (): Promise<void> => {
    calls.push(name);
    if (failing === name) throw new Error(`${name}: cannot save`);
  };
  const ipam = { bindNetwork: step('bindNetwork'), claimAddresses: step('claimAddresses') };
  // the fakes implement only what these two routes call
  const table = routes(driver as unknown as NetworkDriver, ipam as unknown as IpamDriver);
  return { calls, table };
}

t.test('CreateNetwork: a failed pool binding takes the network back', async (t) => {
  const { calls, table } = world('bindNetwork');
  await t.rejects(Promise.resolve(table['/NetworkDriver.CreateNetwork']?.({ NetworkID: NET, Options: {}, IPv4Data: [], IPv6Data: [] })),
    /bindNetwork: cannot save/);
  t.same(calls, ['createNetwork', 'bindNetwork', 'deleteNetwork aaaa']);
});

t.test('CreateEndpoint: a failed address claim takes the endpoint back', async (t) => {
  const { calls, table } = world('claimAddresses');
  await t.rejects(Promise.resolve(table['/NetworkDriver.CreateEndpoint']?.({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.1.0.5/24' } })),
    /claimAddresses: cannot save/);
  t.same(calls, ['createEndpoint', 'claimAddresses', 'deleteEndpoint aaaa bbbb']);
});

t.test('both steps succeed: nothing undone', async (t) => {
  const { calls, table } = world(undefined);
  await table['/NetworkDriver.CreateEndpoint']?.({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.1.0.5/24' } });
  t.same(calls, ['createEndpoint', 'claimAddresses']);
});

t.test('a retry that finds the endpoint made already: a failed claim leaves it in place', async (t) => {
  const { calls, table } = world('claimAddresses', false);
  await t.rejects(Promise.resolve(table['/NetworkDriver.CreateEndpoint']?.({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.1.0.5/24' } })),
    /claimAddresses: cannot save/);
  t.same(calls, ['createEndpoint', 'claimAddresses']);
});
