// udhcpc's hook: scripts/udhcpc-hook execs `node dist/dhcp/hook.js <event>`
// with udhcpc's environment (ip, mask, subnet, router, serverid, lease,
// interface) and the daemon's:
//   OVSVLAN_DHCP_LEASE_FILE  where the lease is written (atomically) at bound and renew
//   OVSVLAN_DHCP_APPLY       "1": the interface is the container's, in its netns: when the
//                            server hands back another address, put it on the interface
//                            (and the default route via the server's router when
//                            OVSVLAN_DHCP_GATEWAY=server). Anything else: report only,
//                            never configure (the first lease is taken in the host's namespace).
//   OVSVLAN_DHCP_DECONFIG_FILE  touched at each deconfig (udhcpc runs it at start and once a
//                            release is sent): stopRenewal waits for it before SIGTERM
// udhcpc's other events (leasefail, nak) and deconfig change nothing on the
// interface: the container keeps its address until the server gives another.
// The hook's exit status is ignored by udhcpc; errors go to stderr.
import { writeFile } from 'node:fs/promises';
import { leaseFromEnv, writeLeaseFile } from './lease.js';
import type { Lease } from './types.js';

const IP_TIMEOUT_MS = 5_000;

/** Runs `ip` (argument array, bounded); execa is loaded only when an address is applied. */
async function ip(args: string[]): Promise<string> {
  const { execa } = await import('execa');
  const r = await execa('ip', args, { timeout: IP_TIMEOUT_MS, stdin: 'ignore' });
  return String(r.stdout);
}

/** The IPv4 addresses (with prefix length) on the interface now. */
async function addressesOf(ifname: string): Promise<string[]> {
  const out = JSON.parse(await ip(['-j', '-4', 'addr', 'show', 'dev', ifname])) as Array<{
    addr_info?: Array<{ local?: string; prefixlen?: number }>;
  }>;
  return out.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
}

/**
 * Puts the lease's address on the interface in place of the others when it
 * is not there yet, and with gateway=server sets the default route via the router.
 */
async function apply(ifname: string, lease: Lease, gateway: string): Promise<void> {
  const current = await addressesOf(ifname);
  if (current.includes(lease.address)) return;
  // the old ones go first: deleting a primary address also deletes the secondaries of its subnet
  for (const old of current) await ip(['addr', 'del', old, 'dev', ifname]);
  await ip(['addr', 'add', lease.address, 'dev', ifname]);
  if (gateway === 'server' && lease.router !== undefined) {
    await ip(['route', 'replace', 'default', 'via', lease.router, 'dev', ifname]);
  }
  process.stderr.write(`ovsvlan dhcp hook: ${ifname} now has ${lease.address} (had ${current.join(', ') || 'none'})\n`);
}

async function main(): Promise<void> {
  const event = process.argv[2];
  const env = process.env;
  if (event === 'deconfig' && env.OVSVLAN_DHCP_DECONFIG_FILE) {
    await writeFile(env.OVSVLAN_DHCP_DECONFIG_FILE, `${Date.now()}\n`);
    return;
  }
  if (event !== 'bound' && event !== 'renew') return;
  const lease = leaseFromEnv(env, Date.now());
  if (lease === undefined) {
    process.stderr.write(`ovsvlan dhcp hook: ${event} without a usable ip/mask\n`);
    return;
  }
  const file = env.OVSVLAN_DHCP_LEASE_FILE;
  if (file) await writeLeaseFile(file, lease);
  if (env.OVSVLAN_DHCP_APPLY === '1' && env.interface) {
    await apply(env.interface, lease, env.OVSVLAN_DHCP_GATEWAY ?? 'none');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ovsvlan dhcp hook: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
