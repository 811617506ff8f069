// A real DHCP server for the DHCP tests: Debian's dnsmasq (dnsmasq-base),
// only ever inside a test netns, bound to one test interface, DNS off, no
// config, hosts or resolv files of the machine read; its pidfile, lease file
// and log under RUN_DIR. Stopped by its PID (from its own pidfile).
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { RUN_DIR, ensureRunDir, pidAlive, runOk, stopPid, waitFor } from './run.js';

export interface DnsmasqOptions {
  /** per-run name (start it with RUN_PREFIX): names the directory of its files */
  name: string;
  /** the netns (ip netns name) it runs in */
  netns: string;
  /** the interface it serves, in that netns; it must carry an address in the range's subnet */
  ifname: string;
  /** first and last address handed out, and the netmask */
  range: { from: string; to: string; mask: string };
  /** lease time in seconds (dnsmasq's minimum, and the default here: 120; T1 is half of it) */
  leaseS?: number;
  /** reservations: this MAC always gets this address */
  hosts?: ReadonlyArray<{ mac: string; ip: string }>;
  /** option 3; undefined: no router is sent (dnsmasq would send its own address otherwise) */
  router?: string;
  /** --dhcp-authoritative: a renewal of a lease it does not know is answered NAK, not ignored */
  authoritative?: boolean;
}

/** One line of dnsmasq's lease file. */
export interface DnsmasqLease {
  /** seconds since epoch when the lease runs out */
  expiry: number;
  mac: string;
  ip: string;
  hostname: string | undefined;
  /** colon-hex, e.g. 01:02:11:22:33:44:55 */
  clientId: string | undefined;
}

export interface Dnsmasq {
  readonly pid: number;
  readonly leaseFile: string;
  readonly logFile: string;
  /** The leases in dnsmasq's lease file now. */
  leases(): Promise<DnsmasqLease[]>;
  /** The lease of `mac`, if the file has one. */
  leaseOf(mac: string): Promise<DnsmasqLease | undefined>;
  /** Stops it by its PID (SIGTERM, then SIGKILL) and removes its files. */
  stop(): Promise<void>;
}

/** Parses dnsmasq's lease file: "expiry mac ip hostname|* clientid|*" per line. */
export function parseDnsmasqLeases(text: string): DnsmasqLease[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && /^\d+$/.test(f[0] ?? ''))
    .map(([expiry, mac, ip, hostname, clientId]) => ({
      expiry: Number(expiry),
      mac: (mac ?? '').toLowerCase(),
      ip: ip ?? '',
      hostname: hostname === '*' ? undefined : hostname,
      clientId: clientId === '*' ? undefined : clientId?.toLowerCase(),
    }));
}

/** Starts dnsmasq as a DHCP server (no DNS: --port=0) in `opts.netns` on `opts.ifname`. */
export async function startDnsmasq(opts: DnsmasqOptions): Promise<Dnsmasq> {
  await ensureRunDir();
  const dir = `${RUN_DIR}/dnsmasq-${opts.name}`;
  await mkdir(dir, { recursive: true });
  const pidFile = `${dir}/dnsmasq.pid`;
  const leaseFile = `${dir}/leases`;
  const logFile = `${dir}/log`;
  const { from, to, mask } = opts.range;
  const args = [
    '--conf-file=/dev/null',
    `--interface=${opts.ifname}`,
    '--bind-interfaces',
    '--except-interface=lo',
    '--no-resolv',
    '--no-hosts',
    '--port=0',
    `--pid-file=${pidFile}`,
    `--dhcp-leasefile=${leaseFile}`,
    `--dhcp-range=${from},${to},${mask},${opts.leaseS ?? 120}`,
    opts.router === undefined ? '--dhcp-option=3' : `--dhcp-option=3,${opts.router}`,
    ...(opts.hosts ?? []).map((h) => `--dhcp-host=${h.mac},${h.ip}`),
    ...(opts.authoritative ? ['--dhcp-authoritative'] : []),
    '--log-dhcp',
    `--log-facility=${logFile}`,
  ];
  // dnsmasq forks into the background once its sockets are bound; the pidfile names the daemon
  await runOk('ip', ['netns', 'exec', opts.netns, 'dnsmasq', ...args], { timeout: 15_000 });
  const pid = await waitFor('dnsmasq to write its pidfile', async () => {
    const n = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    return n > 0 && pidAlive(n) ? n : undefined;
  });
  const leases = async (): Promise<DnsmasqLease[]> => parseDnsmasqLeases(await readFile(leaseFile, 'utf8').catch(() => ''));
  return {
    pid,
    leaseFile,
    logFile,
    leases,
    leaseOf: async (mac) => (await leases()).find((l) => l.mac === mac.toLowerCase()),
    stop: async () => {
      await stopPid(pid);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * PIDs of the live udhcpc processes whose command line mentions `text` (an
 * interface, a pidfile, a state directory): what the DHCP tests check is left
 * running, or gone.
 */
export function udhcpcPids(text: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.includes('udhcpc') && argv.some((a) => a.includes(text)) && pidAlive(Number(d))) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
