// `ovsvlan ipam reclaim --host H [--json]`: frees the addresses of a host lost
// for good (cluster/reclaim.ts does the work; this is the command line around
// it). Exit status: 0 done (also when there was nothing left to free), 1
// refused (the host is alive, or unknown to the cluster), 2 a usage error,
// cluster mode off, or etcd unreachable.
import { resolveConfig, type CommandLine } from '../config.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { openEtcdKv } from '../cluster/etcd-kv.js';
import { Keys } from '../cluster/keys.js';
import { ClusterUnreachableError } from '../cluster/kv.js';
import { reclaimHost } from '../cluster/reclaim.js';
import type { ReclaimResult } from '../cluster/types.js';
import type { Env } from './commands.js';

/** Runs `ovsvlan ipam reclaim`; returns the exit status. */
export async function runReclaim(cl: CommandLine, env: Env): Promise<number> {
  const fail = (code: number, message: string): number => {
    process.stderr.write(`ovsvlan ipam reclaim: ${message}\n`);
    return code;
  };
  const host = cl.own['host'];
  if (typeof host !== 'string' || host === '') return fail(2, '--host H is required: the id of the lost host (see "ovsvlan status")');
  const config = resolveConfig(cl.settings, env);
  const cluster = config.cluster;
  if (!cluster) return fail(2, 'cluster mode is off: set OVSVLAN_ETCD (and the other OVSVLAN_ETCD_* settings) as the daemon has them');
  const kv = await openEtcdKv(cluster);
  try {
    const result = await reclaimHost(kv, new Keys(cluster.prefix), host, cluster.hostId);
    process.stdout.write(cl.own['json'] === true ? `${JSON.stringify(result, null, 2)}\n` : formatReclaim(result));
    return 0;
  } catch (err) {
    if (err instanceof ConflictError || err instanceof NotFoundError) return fail(1, err.message);
    if (err instanceof ClusterUnreachableError) return fail(2, err.message);
    throw err;
  } finally {
    await kv.close().catch(() => undefined);
  }
}

function formatReclaim(r: ReclaimResult): string {
  const lines = [`host ${r.host} is fenced: if its daemon returns, it takes no new address and reports any of these now in use elsewhere as a conflict`];
  lines.push(r.freed.length === 0 ? 'no address of it was left to free' : `freed ${r.freed.length} address(es):`);
  for (const f of r.freed) lines.push(`  ${f.ident.padEnd(14)} ${f.address}`);
  return `${lines.join('\n')}\n`;
}
