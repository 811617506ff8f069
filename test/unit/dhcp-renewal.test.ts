// The renewal side of DHCP networks (src/driver/dhcp-renewal.ts) against a
// fake DhcpClient and real records: an address the server changed is logged
// and recorded once (the first address kept for status), a renewal of the
// same address changes nothing; reconciliation stops a client whose endpoint
// is gone, starts one for a joined endpoint whose sandbox exists and whose
// client is missing, and leaves running clients alone (adopted).
import t from 'tap';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DhcpRenewals } from '../../src/driver/dhcp-renewal.js';
import type { DhcpClient, Lease, RenewalClient } from '../../src/dhcp/types.js';
import { KeyedMutex } from '../../src/lock.js';
import type { EndpointRecord, NetworkRecord } from '../../src/store/records.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { tempState } from '../helpers/temp-state.js';

const NET = 'a'.repeat(64);
const [EP1, EP2, GONE] = ['1'.repeat(64), '2'.repeat(64), '9'.repeat(64)];
const lease = (address: string): Lease => ({ address, router: '10.87.0.2', serverId: '10.87.0.2', leaseS: 120, at: 1 });
const net: NetworkRecord = {
  id: NET, mode: 'vlan', bridge: 'br', vlan: 870, mtu: 1500, key: undefined, remotes: [], uplink: undefined, nativeVlan: undefined,
  hostIp: undefined, datapath: 'netdev', gatewayV4: undefined, gatewayV6: undefined, internal: false, subnets: [],
  dhcp: { gateway: 'server', release: 'keep', timeoutS: 10, subnet: undefined },
};
const endpoint = (id: string, address: string, sandboxKey?: string): EndpointRecord => ({
  id, networkId: NET, hostIf: `ovh${id.slice(0, 12)}`, containerIf: `ovc${id.slice(0, 12)}`, addressV4: address, addressV6: undefined, createdAt: 1,
  dhcp: { identity: { mac: '02:87:00:00:00:01', clientId: '01028700000001', hostname: 'web' }, lease: lease(address), firstAddress: address,
    ...(sandboxKey ? { sandboxKey } : {}) },
});

function fakeClient(leases: Map<string, Lease>, running: Map<string, number>) {
  const calls: string[] = [];
  const started: RenewalClient[] = [];
  const client: DhcpClient = {
    firstLease: async () => { throw new Error('not here'); },
    startRenewal: async (c) => void started.push(c),
    stopRenewal: async (id, release) => void calls.push(`stop ${id.slice(0, 1)} ${release}`),
    leaseOf: (id) => leases.get(id),
    running: () => running,
    problems: () => [],
  };
  return { client, calls, started };
}

t.test('an address the server changed is recorded once, the first one kept', async (t) => {
  const state = await tempState(t, 'dhcp-renewal');
  await state.putNetwork(net);
  await state.putEndpoint(endpoint(EP1, '10.87.0.101/24'));
  const leases = new Map([[EP1, lease('10.87.0.101/24')]]);
  const { client } = fakeClient(leases, new Map());
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const renewals = new DhcpRenewals({ state, locks: new KeyedMutex(), dhcp: client, log, containerOf: undefined });
  await renewals.checkLeases();
  t.equal(state.endpoint(EP1)?.addressV4, '10.87.0.101/24', 'a renewal of the same address changes nothing');
  t.same(lines.filter((l) => l.includes('dhcp address changed')), [], 'and logs nothing');
  leases.set(EP1, lease('10.87.0.133/24'));
  await renewals.checkLeases();
  const ep = state.endpoint(EP1);
  t.equal(ep?.addressV4, '10.87.0.133/24', 'the record has the new address');
  t.equal(ep?.dhcp?.lease.address, '10.87.0.133/24', 'and the new lease');
  t.equal(ep?.dhcp?.firstAddress, '10.87.0.101/24', 'the first address is kept (status shows the change)');
  t.match(lines.filter((l) => l.includes('dhcp address changed')), [/10\.87\.0\.133\/24 instead of 10\.87\.0\.101\/24/], 'logged once');
  await renewals.checkLeases();
  t.equal(lines.filter((l) => l.includes('dhcp address changed')).length, 1, 'not again');
});

t.test('reconciliation: orphan clients stopped, missing ones started, running ones adopted', async (t) => {
  const state = await tempState(t, 'dhcp-reconcile');
  const sandbox = join(tmpdir(), `${RUN_PREFIX}-sandbox`);
  await writeFile(sandbox, '');
  t.teardown(() => rm(sandbox, { force: true }));
  await state.putNetwork(net);
  await state.putEndpoint(endpoint(EP1, '10.87.0.101/24', sandbox)); // its client runs
  await state.putEndpoint(endpoint(EP2, '10.87.0.102/24', sandbox)); // its client died
  const { client, calls, started } = fakeClient(new Map(), new Map([[EP1, 100], [GONE, 200]]));
  const renewals = new DhcpRenewals({ state, locks: new KeyedMutex(), dhcp: client, log: pino({ level: 'silent' }), containerOf: undefined });
  const acts: string[] = [];
  await renewals.reconcile((rule, fields) => void acts.push(`${rule} ${String(fields['endpoint'])}`));
  t.same(acts.sort(), [`dhcp-client-missing ${EP2.slice(0, 12)}`, `dhcp-client-orphan ${GONE.slice(0, 12)}`], 'one missing, one orphan');
  t.same(calls, ['stop 9 false'], 'the orphan is stopped without a release');
  for (let i = 0; i < 50 && started.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(started.map((c) => [c.endpointId, c.address, c.sandboxKey, c.gateway, c.identity.hostname]), [[EP2, '10.87.0.102', sandbox, 'server', 'web']],
    'the missing one started in its sandbox, asking for its address, with its hostname; the running one left alone');
});
