// `ovsvlan ipam reclaim --host H`: frees the addresses of a host that is gone
// for good. Refused while H's liveness record is in etcd. The fence goes
// first (written only while H has no liveness record, in one transaction), so
// that if H comes back its daemon takes no new address and only restores the
// ones nobody took meanwhile (address sync reports the others as conflicts);
// then each of H's address keys is deleted by its revision and H leaves every
// network definition. Running it again changes nothing more.
import { ConflictError, NotFoundError } from '../errors.js';
import { listAddresses } from './addresses.js';
import { definitionOf } from './definitions.js';
import type { Keys } from './keys.js';
import type { Kv, KvOp, KvPair } from './kv.js';
import { parseHostRecord } from './hosts.js';
import { HOST_TTL_SECONDS, type ReclaimResult } from './types.js';

/** Compare-and-swap attempts on one definition before leaving it to a later run. */
const CAS_ATTEMPTS = 10;

/**
 * Fences `host` and frees what it held; `by` is who asked (this host's id).
 * Rejects with ConflictError while the host is alive, NotFoundError for a host
 * etcd never heard of, ClusterUnreachableError when etcd does not answer.
 */
export async function reclaimHost(kv: Kv, keys: Keys, host: string, by: string): Promise<ReclaimResult> {
  const [alive, own, addresses, fence] = await Promise.all([
    kv.get(keys.alive(host)), kv.range(`${keys.hosts()}${host}/`), kv.range(keys.addresses()), kv.get(keys.fence(host)),
  ]);
  if (alive) throw aliveError(host, alive.value);
  const held = listAddresses(keys, addresses.pairs).filter((a) => a.holder?.host === host);
  if (own.pairs.length === 0 && held.length === 0 && !fence) {
    throw new NotFoundError(`host ${host} is not known to the cluster: etcd has no record, epoch or address of it (see "ovsvlan status" for the hosts)`);
  }
  const fenced = await kv.txn([{ key: keys.alive(host), target: 'version', op: '==', value: 0 }],
    [{ op: 'put', key: keys.fence(host), value: JSON.stringify({ by, at: Date.now() }) }]);
  if (!fenced.succeeded) throw aliveError(host, (await kv.get(keys.alive(host)))?.value ?? '');

  const freed: Array<{ ident: string; address: string }> = [];
  for (const a of held) {
    const r = await kv.txn([{ key: a.pair.key, target: 'modRevision', op: '==', value: a.pair.modRevision }], [{ op: 'delete', key: a.pair.key }]);
    if (r.succeeded) freed.push({ ident: a.ident, address: a.address });
  }
  await leaveDefinitions(kv, keys, host);
  return { host, freed };
}

/** Removes `host` from every definition that lists it, deleting a definition left with no host. */
async function leaveDefinitions(kv: Kv, keys: Keys, host: string): Promise<void> {
  const { pairs } = await kv.range(keys.networks());
  for (const listed of pairs) {
    let pair: KvPair | undefined = listed;
    for (let attempt = 0; pair && attempt < CAS_ATTEMPTS; attempt++) {
      const def = definitionOf(pair); // a malformed one is not this command's to fix
      if (!def?.hosts.includes(host)) break;
      const hosts = def.hosts.filter((h) => h !== host);
      const op: KvOp = hosts.length === 0 ? { op: 'delete', key: pair.key } : { op: 'put', key: pair.key, value: JSON.stringify({ ...def, hosts }) };
      if ((await kv.txn([{ key: pair.key, target: 'modRevision', op: '==', value: pair.modRevision }], [op])).succeeded) break;
      pair = await kv.get(pair.key);
    }
  }
}

function aliveError(host: string, recordText: string): ConflictError {
  const updatedAt = parseHostRecord(recordText)?.updatedAt;
  const ago = updatedAt === undefined ? '?' : String(Math.max(0, Math.round((Date.now() - updatedAt) / 1000)));
  return new ConflictError(`host ${host} is alive (its liveness record is in etcd, updated ${ago} s ago): `
    + `stop its daemon first, or wait ${HOST_TTL_SECONDS} s after it stopped`);
}
