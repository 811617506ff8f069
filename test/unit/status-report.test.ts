// `ovsvlan status`'s drift, fed what the host would show: an endpoint whose
// container is gone (Docker does not list it on its network, or its container
// end is back in the host) is endpoint-orphan drift once it is older than the
// lease grace, and a network Docker no longer has is network-gone, both judged
// by reconciliation's own rules (reconcile/gone.ts) on the same DockerView; a
// younger endpoint (a `docker run` half-way) is not. Drift lines name the
// container where Docker does; networks carry Docker's name for them.
import t from 'tap';
import { statusReport } from '../../src/cli/report.js';
import { formatStatus } from '../../src/cli/status.js';
import type { Facts } from '../../src/cli/facts.js';
import type { DockerView } from '../../src/reconcile/docker.js';
import { endpointOrphan } from '../../src/reconcile/gone.js';
import type { LinkInfo } from '../../src/link/links.js';
import { emptyState, type EndpointRecord, type NetworkRecord } from '../../src/store/records.js';
import type { InventoryPort } from '../../src/vswitch/inventory.js';

const NOW = Date.UTC(2026, 11, 7, 6, 0, 0);
const GRACE = 60_000;
const NET = 'a'.repeat(64);
const network: NetworkRecord = {
  id: NET, mode: 'vlan', bridge: 'br0', vlan: 870, mtu: 1500, key: undefined, remotes: [], uplink: undefined, nativeVlan: undefined,
  hostIp: undefined, datapath: 'netdev', gatewayV4: '192.0.2.1', gatewayV6: undefined, internal: false, subnets: ['192.0.2.0/24'],
};
const endpoint = (n: number, age: number): EndpointRecord => ({
  id: `${n}`.repeat(64), networkId: NET, hostIf: `ovh${n}`, containerIf: `ovc${n}`, addressV4: `192.0.2.${10 + n}/24`, addressV6: undefined,
  createdAt: NOW - age,
});
const port = (name: string): InventoryPort => ({
  name, bridge: 'br0', tag: 870, trunks: [], vlanMode: undefined, externalIds: {}, type: '', options: {}, mtu: 1500, error: undefined,
});
const link = (name: string): LinkInfo => ({ name, index: 1, mtu: 1500, kind: 'veth', alias: undefined, noarp: false } as LinkInfo);

/** Docker's view as reconciliation reads it: NET with `listed` on it (null: Docker has no NET). */
const view = (listed: EndpointRecord[] | null): DockerView => ({
  networks: new Map([[NET, listed && listed.map((e) => ({ endpointId: e.id, addresses: [] }))]]), subnets: new Set(['192.0.2.0/24']), containers: new Set(),
});

/**
 * A host with the endpoints' ports and host ends in place, plus `extraLinks`; Docker names
 * `containers` and lists on NET those it names (no view when `containers` is undefined).
 */
function facts(endpoints: EndpointRecord[], containers: Map<string, string> | undefined, extraLinks: string[] = []): Facts {
  const state = emptyState();
  state.networks[NET] = network;
  for (const e of endpoints) state.endpoints[e.id] = e;
  return {
    state: { ok: true, value: state },
    ovs: { ok: true, value: { ovsVersion: '3.1.0', dbVersion: '8.3.1', curCfg: 1, nextCfg: 1, datapathTypes: ['netdev'], bridges: [{ name: 'br0', datapath: 'netdev', ours: true, ports: [] }],
      ports: new Map(endpoints.map((e) => [e.hostIf, port(e.hostIf)])) } },
    links: { ok: true, value: [...endpoints.map((e) => link(e.hostIf)), ...extraLinks.map(link)] },
    containers,
    dockerView: containers && view(endpoints.filter((e) => containers.has(e.id))),
    cluster: undefined,
  };
}

t.test('an old endpoint Docker does not list on its network is endpoint-orphan drift', async (t) => {
  const [kept, gone] = [endpoint(1, 10 * GRACE), endpoint(2, 10 * GRACE)];
  const report = statusReport(facts([kept, gone], new Map([[kept.id, 'web']])), GRACE, NOW);
  t.match(report.drift, [{ kind: 'endpoint-orphan', object: 'ovh2', detail: /^endpoint 222222222222 on port ovh2: Docker does not list it on its network/ }]);
  t.equal(report.drift.length, 1, 'nothing else');
  t.equal(report.endpoints.find((e) => e.id === kept.id)?.container, 'web');
});

t.test('its container end back in the host is endpoint-orphan too, Docker unread', async (t) => {
  const gone = endpoint(3, 10 * GRACE);
  const report = statusReport(facts([gone], undefined, ['ovc3']), GRACE, NOW);
  t.match(report.drift, [{ kind: 'endpoint-orphan', object: 'ovh3', detail: /container end ovc3 is back in the host/ }]);
});

t.test('endpoint-orphan is what reconciliation judges, from the same reads', async (t) => {
  // Docker lists the endpoint on its network, but its container list names none (read apart): no drift,
  // as reconciliation removes nothing (status judged by the container list and called it gone)
  const listed = endpoint(1, 10 * GRACE);
  const f = { ...facts([listed], new Map()), dockerView: view([listed]) };
  t.same(statusReport(f, GRACE, NOW).drift, []);
  // an endpoint whose network has no record: reconciliation removes it, status says so (it said nothing)
  const stray = { ...endpoint(2, 0), networkId: 'c'.repeat(64) };
  const withStray = facts([listed], new Map([[listed.id, 'web']]));
  if (withStray.state.ok) withStray.state.value.endpoints[stray.id] = stray;
  t.match(statusReport(withStray, GRACE, NOW).drift.filter((d) => d.kind === 'endpoint-orphan'),
    [{ object: 'ovh2', detail: /^endpoint 222222222222 on port ovh2: its network has no record$/ }]);
  // each endpoint's status verdict is reconciliation's verdict on the same facts
  for (const [e, docker, links] of [[endpoint(4, 10 * GRACE), view([]), []], [endpoint(5, GRACE / 2), view([]), ['ovc5']],
    [endpoint(6, 10 * GRACE), view(null), ['ovc6']], [endpoint(7, 10 * GRACE), undefined, []]] as const) {
    const host = { ...facts([e], undefined, [...links]), dockerView: docker };
    const drift = statusReport(host, GRACE, NOW).drift.some((d) => d.kind === 'endpoint-orphan');
    const verdict = endpointOrphan(e, { networkRecorded: true, view: docker, links: new Set(links), now: NOW, graceMs: GRACE });
    t.equal(drift, verdict.orphan, `endpoint ${e.hostIf}: drift ${drift}, reconciliation ${verdict.orphan}`);
  }
});

t.test('younger than the grace: not judged (a docker run half-way); without a grace: never', async (t) => {
  const young = endpoint(4, GRACE / 2);
  t.same(statusReport(facts([young], new Map()), GRACE, NOW).drift, []);
  t.same(statusReport(facts([endpoint(5, 10 * GRACE)], new Map())).drift, []);
});

t.test('drift lines name the endpoint\'s container', async (t) => {
  const e = endpoint(6, 10 * GRACE);
  const f = facts([e], new Map([[e.id, 'db']]));
  if (f.ovs.ok) f.ovs.value.ports.set('ovh6', { ...port('ovh6'), tag: 999 });
  t.match(statusReport(f, GRACE, NOW).drift, [{ kind: 'port-wrong', detail: /^endpoint 666666666666 \(db\): port ovh6 is on br0 tag 999/ }]);
});

t.test('networks carry Docker\'s name; the tables show it', async (t) => {
  const e = endpoint(7, 10 * GRACE);
  const report = statusReport({ ...facts([e], new Map([[e.id, 'web']])), networkNames: new Map([[NET, 'vlan870']]) }, GRACE, NOW);
  t.equal(report.networks[0]?.name, 'vlan870');
  const text = formatStatus(report);
  t.match(text, /^ {2}aaaaaaaaaaaa +vlan870 +vlan +870 +br0 /m, 'NAME column of NETWORKS');
  t.match(text, /^ {2}777777777777 +web +vlan870 +ovh7 /m, 'the endpoint\'s network by its name');
  t.equal(statusReport(facts([e], undefined)).networks[0]?.name, undefined, 'no name without Docker');
});

t.test('a network Docker no longer has is network-gone drift; without Docker\'s view, not judged', async (t) => {
  const report = statusReport({ ...facts([], new Map()), dockerView: view(null) }, GRACE, NOW);
  t.match(report.drift, [{ kind: 'network-gone', object: NET, detail: /Docker has no such network/ }]);
  t.same(statusReport(facts([], undefined), GRACE, NOW).drift, []);
  // judged by Docker's view (the network inspected, as reconciliation asks), not by its list of names
  t.same(statusReport({ ...facts([], new Map()), networkNames: new Map() }, GRACE, NOW).drift, [], 'no name read: not gone');
});

t.test('Docker unread: says whether it was not asked or did not answer, and where', async (t) => {
  const error = (endpoint: string | undefined): string | undefined =>
    statusReport({ ...facts([], undefined), dockerEndpoint: endpoint }).unreadable.find((u) => u.source === 'docker')?.error;
  t.match(error(''), /^OVSVLAN_DOCKER is empty: /);
  t.match(error('unix:///run/d.sock'), /^Docker did not answer at unix:\/\/\/run\/d\.sock: /);
});
