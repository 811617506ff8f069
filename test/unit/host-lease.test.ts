// Review finding 4: the host_ip's `host` lease was made only by CreateNetwork
// (bindNetwork), so a network made by an older ovsvlan never got it and a
// container could be handed the host's address. Reconciliation's
// ensureHostLease adds it where the network's ovsvlan pool holds the address
// and it is free (host-lease-missing), and reports a container holding it
// (host-ip-taken), leaving that lease alone.
import t from 'tap';
import { ensureHostLease } from '../../src/ipam/bind.js';
import type { PoolRecord } from '../../src/store/records.js';
import { tempState } from '../helpers/temp-state.js';

const NET = 'c'.repeat(64);
const EP = 'e'.repeat(64);

function pool(id: string, cidr: string): PoolRecord {
  return { id, addressSpace: 'ovsvlan-local', v6: cidr.includes(':'), pool: cidr, subPool: undefined, networkId: NET, auto: false,
    lastAllocated: undefined, createdAt: Date.now(), leases: {} };
}

t.test('a network from before the host lease: its host_ip is leased to the host, once', async (t) => {
  const state = await tempState(t, 'hostlease');
  await state.putPool(pool('p4', '10.8.0.0/24'));
  await state.putPool(pool('p6', 'fd00:8::/64'));
  await state.changeLeases('p4', { '10.8.0.1': { kind: 'gateway', at: 1 } });
  const rules: string[] = [];
  const report = (rule: string, f: Record<string, unknown>): void => void rules.push(`${rule} ${String(f['pool'])} ${String(f['address'])}`);
  for (const id of ['p4', 'p6']) await ensureHostLease(state, state.pool(id)!, '10.8.0.254/24', report);
  t.same(rules, ['host-lease-missing p4 10.8.0.254'], 'added in the pool that holds it, not in the other');
  t.equal(state.pool('p4')?.leases['10.8.0.254']?.kind, 'host');
  t.same(Object.keys(state.pool('p6')?.leases ?? {}), [], 'the IPv6 pool is left alone');
  await ensureHostLease(state, state.pool('p4')!, '10.8.0.254/24', report);
  t.equal(rules.length, 1, 'a second run finds it and does nothing');
  await ensureHostLease(state, state.pool('p4')!, '10.8.0.1/24', report);
  t.equal(state.pool('p4')?.leases['10.8.0.1']?.kind, 'gateway', 'a host_ip that is the gateway keeps its gateway lease');
});

t.test('a container holding the host_ip: reported, its lease left alone', async (t) => {
  const state = await tempState(t, 'hostlease');
  await state.putPool(pool('p4', '10.8.0.0/24'));
  await state.changeLeases('p4', { '10.8.0.254': { kind: 'endpoint', endpointId: EP, at: 1 } });
  const fields: Array<Record<string, unknown>> = [];
  const rules: string[] = [];
  await ensureHostLease(state, state.pool('p4')!, '10.8.0.254/24', (rule, f) => { rules.push(rule); fields.push(f); });
  t.same(rules, ['host-ip-taken']);
  t.equal(fields[0]?.['endpoint'], EP.slice(0, 12), 'names the endpoint that holds it');
  t.same(state.pool('p4')?.leases['10.8.0.254'], { kind: 'endpoint', endpointId: EP, at: 1 }, 'the container keeps its lease');
});
