// `ovsvlan ipam reclaim --host H`: frees the addresses of a host that is gone
// for good. Refused while H's liveness record is in etcd. The fence goes
// first (written only while H has no liveness record, in one transaction), so
// that if H comes back its daemon takes no new address and only restores the
// ones nobody took meanwhile (address sync reports the others as conflicts);
// then each of H's address keys is deleted by its revision, each delete
// re-checking that H is still gone and fenced, and H leaves every network
// definition. Running it again changes nothing more.
import { ConflictError, NotFoundError } from '../errors.js';
import { listAddresses } from './addresses.js';
import { definitionOf, EtcdNetworks } from './definitions.js';
import type { Keys } from './keys.js';
import type { Compare, Kv } from './kv.js';
import { parseHostRecord } from './hosts.js';
import { HOST_TTL_SECONDS, type ReclaimResult } from './types.js';

/**
 * Fences `host` and frees what it held; `by` is who asked (this host's id).
 * Rejects with ConflictError while the host is alive (or when it comes back
 * during the run: its keys not yet deleted stay its own), NotFoundError for a host
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

  // every delete re-validates that H is still gone (no liveness record, its fence still there): H may come back meanwhile
  const stillGone: Compare[] = [{ key: keys.alive(host), target: 'version', op: '==', value: 0 }, { key: keys.fence(host), target: 'version', op: '>', value: 0 }];
  const freed: Array<{ ident: string; address: string }> = [];
  for (const a of held) {
    const r = await kv.txn([{ key: a.pair.key, target: 'modRevision', op: '==', value: a.pair.modRevision }, ...stillGone], [{ op: 'delete', key: a.pair.key }]);
    // a failed compare on a key that is gone: a retried delete of this call (the first applied), or another reclaim's
    if (r.succeeded || !(await kv.get(a.pair.key))) freed.push({ ident: a.ident, address: a.address });
  }
  const [back, fenceNow] = await Promise.all([kv.get(keys.alive(host)), kv.get(keys.fence(host))]);
  if (back || !fenceNow) {
    throw new ConflictError(`host ${host} came back while it was being reclaimed: ${freed.length} of its ${held.length} address(es) had been freed, `
      + 'the others stay its own and it stays in its networks\' definitions; run the command again once it is gone for good');
  }
  const networks = new EtcdNetworks(kv, keys, by);
  for (const pair of (await kv.range(keys.networks())).pairs) {
    const def = definitionOf(pair); // a malformed one is not this command's to fix
    if (def?.hosts.includes(host)) await networks.leave(def.ident, host);
  }
  return { host, freed };
}

function aliveError(host: string, recordText: string): ConflictError {
  const updatedAt = parseHostRecord(recordText)?.updatedAt;
  const ago = updatedAt === undefined ? '?' : String(Math.max(0, Math.round((Date.now() - updatedAt) / 1000)));
  return new ConflictError(`host ${host} is alive (its liveness record is in etcd, updated ${ago} s ago): `
    + `stop its daemon first, or wait ${HOST_TTL_SECONDS} s after it stopped`);
}
