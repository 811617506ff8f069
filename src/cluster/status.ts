// The cluster as etcd has it, for `ovsvlan status`: every host that ever put
// a record (alive when its leased record is there), whether it is fenced, how
// many addresses it holds, and the shared networks' definitions. Read from
// etcd alone: works with this host's daemon stopped.
import { listAddresses } from './addresses.js';
import { definitionOf } from './definitions.js';
import { parseHostRecord } from './hosts.js';
import type { Keys } from './keys.js';
import type { Kv } from './kv.js';
import type { ClusterStatus, HostRecord, NetworkDefinition } from './types.js';

/** Reads hosts, fences, address keys and definitions (four ranges, in parallel). Rejects with ClusterUnreachableError. */
export async function readClusterStatus(kv: Kv, keys: Keys): Promise<ClusterStatus> {
  const [alives, hosts, fences, addresses, networks] = await Promise.all([
    kv.range(keys.alives()), kv.range(keys.hosts()), kv.range(keys.fences()), kv.range(keys.addresses()), kv.range(keys.networks()),
  ]);
  const alive = new Map<string, HostRecord>();
  const info = new Map<string, HostRecord>();
  for (const pair of alives.pairs) {
    const host = keys.parseAlive(pair.key);
    const record = host === undefined ? undefined : parseHostRecord(pair.value);
    if (host !== undefined && record) alive.set(host, record);
  }
  for (const pair of hosts.pairs) {
    const where = keys.parseHost(pair.key);
    const record = where?.kind === 'info' ? parseHostRecord(pair.value) : undefined;
    if (where && record) info.set(where.host, record);
  }
  const fenced = new Set(fences.pairs.map((p) => p.key.slice(keys.fences().length)));
  const counts = new Map<string, number>();
  for (const a of listAddresses(keys, addresses.pairs)) {
    if (a.holder) counts.set(a.holder.host, (counts.get(a.holder.host) ?? 0) + 1);
  }
  const ids = [...new Set([...alive.keys(), ...info.keys()])].sort();
  const definitions = networks.pairs.map(definitionOf).filter((d): d is NetworkDefinition => d !== undefined);
  return {
    hosts: ids.map((id) => ({
      // info holds the tunnel counts and conflicts as they are now; alive the record as put at start
      record: (info.get(id) ?? alive.get(id))!,
      alive: alive.has(id),
      fenced: fenced.has(id),
      addresses: counts.get(id) ?? 0,
    })),
    networks: definitions.sort((a, b) => a.ident.localeCompare(b.ident)),
  };
}
