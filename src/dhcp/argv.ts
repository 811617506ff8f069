// The command lines of BusyBox udhcpc, as pure functions (unit-tested): the
// one-shot client of the first lease and the long-running renewal client.
// Both run through `busybox nsenter --net=<netns file>` when a namespace is
// given (nsenter execs udhcpc in place: the PID spawned is udhcpc's).
import type { DhcpIdentity, GatewayPolicy } from './types.js';

/** Vendor class (option 60) every ovsvlan client sends: a server can tell containers apart by it. */
export const VENDOR_CLASS = 'ovsvlan';

/** Option 61 for a MAC: "01" (Ethernet) + its six bytes in lowercase hex, e.g. 01021122334455. */
export function clientIdOf(mac: string): string {
  const bytes = mac.toLowerCase().split(':');
  if (bytes.length !== 6 || !bytes.every((b) => /^[0-9a-f]{2}$/.test(b))) {
    throw new Error(`not a colon-hex MAC: ${JSON.stringify(mac)}`);
  }
  return `01${bytes.join('')}`;
}

/**
 * How the first lease spreads its bound over DISCOVERs: `tries` packets
 * `pauseS` apart, so that udhcpc listens for an offer during the whole bound
 * (servers such as dnsmasq ping an address for ~3 s before offering it, and a
 * late offer to the same transaction is still taken).
 */
export function discoverSchedule(timeoutS: number): { tries: number; pauseS: number } {
  const bound = Math.max(1, Math.floor(timeoutS));
  const pauseS = bound >= 4 ? 2 : 1;
  return { tries: Math.max(1, Math.floor(bound / pauseS)), pauseS };
}

/** The identity's options: client identifier, and hostname once known. */
function identityArgs(identity: DhcpIdentity): string[] {
  const args = ['-x', `0x3d:${identity.clientId}`];
  // udhcpc's -x hostname: takes the rest as the name; Docker's hostnames are [A-Za-z0-9.-]
  if (identity.hostname !== undefined && /^[A-Za-z0-9.-]{1,63}$/.test(identity.hostname)) {
    args.push('-x', `hostname:${identity.hostname}`);
  }
  return args;
}

/** `busybox nsenter --net=<file>` before the command when a namespace is given. */
function inNetns(netns: string | undefined, argv: string[]): string[] {
  return netns === undefined ? argv : ['nsenter', `--net=${netns}`, 'busybox', ...argv];
}

export interface FirstLeaseArgs {
  ifname: string;
  identity: DhcpIdentity;
  requested: string | undefined;
  timeoutS: number;
  /** the hook udhcpc runs at each event (scripts/udhcpc-hook) */
  hook: string;
  netns: string | undefined;
  /**
   * stay once bound (no -q), to be told to release with SIGUSR2 (a lease
   * given back, ReleaseRequest: BusyBox 1.35's -q -R quits without releasing)
   */
  untilReleased?: boolean;
}

/**
 * Arguments of `busybox` for the first lease: foreground, quit once bound (-q),
 * exit when none came (-n), the identity, the last address asked for first.
 * Called by DhcpClient.firstLease at CreateEndpoint.
 */
export function firstLeaseArgv(a: FirstLeaseArgs): string[] {
  const { tries, pauseS } = discoverSchedule(a.timeoutS);
  const argv = ['udhcpc', '-f', ...(a.untilReleased === true ? [] : ['-q']), '-n', '-i', a.ifname, '-t', String(tries), '-T', String(pauseS), '-s', a.hook];
  argv.push(...identityArgs(a.identity), '-V', VENDOR_CLASS);
  if (a.requested !== undefined) argv.push('-r', a.requested);
  return inNetns(a.netns, argv);
}

export interface RenewalArgs {
  /** the container's netns file (Join's SandboxKey) */
  sandboxKey: string;
  /** the interface's name inside that namespace */
  ifname: string;
  /** the address the container has: asked for again, so the container keeps it */
  address: string;
  identity: DhcpIdentity;
  hook: string;
  /** udhcpc writes its PID there; adoption looks for this path in /proc/<pid>/cmdline */
  pidFile: string;
}

/**
 * Arguments of `busybox` for the renewal client: foreground (the daemon
 * detaches it), never quits, asks for the container's address, writes a
 * pidfile. Called by DhcpClient.startRenewal after Join.
 */
export function renewalArgv(a: RenewalArgs): string[] {
  const argv = ['udhcpc', '-f', '-i', a.ifname, '-r', a.address, '-s', a.hook];
  argv.push(...identityArgs(a.identity), '-V', VENDOR_CLASS, '-p', a.pidFile);
  return inNetns(a.sandboxKey, argv);
}

/** True when `cmdline` (NUL-separated, as in /proc/<pid>/cmdline) is a udhcpc writing `pidFile`. */
export function isRenewalCmdline(cmdline: string, pidFile: string): boolean {
  const argv = cmdline.split('\0');
  const i = argv.indexOf('-p');
  return argv.includes('udhcpc') && i >= 0 && argv[i + 1] === pidFile;
}

export interface HookEnvArgs {
  /** the node binary and module the hook runs (scripts/udhcpc-hook execs them) */
  node: string;
  hookModule: string;
  /** where the hook writes the lease at bound and renew */
  leaseFile: string;
  /** put a changed address on the interface: only for a container's netns */
  apply: boolean;
  gateway: GatewayPolicy;
  /** touched at each deconfig (a release confirmed), if given */
  deconfigFile: string | undefined;
}

/**
 * The environment udhcpc passes on to its hook (src/dhcp/hook.ts), which is
 * a plain node script: the daemon's NODE_OPTIONS (loaders, inspectors) are not its own.
 */
export function hookEnv(a: HookEnvArgs): Record<string, string> {
  return {
    NODE_OPTIONS: '',
    OVSVLAN_NODE: a.node,
    OVSVLAN_DHCP_HOOK: a.hookModule,
    OVSVLAN_DHCP_LEASE_FILE: a.leaseFile,
    OVSVLAN_DHCP_APPLY: a.apply ? '1' : '0',
    OVSVLAN_DHCP_GATEWAY: a.gateway,
    OVSVLAN_DHCP_DECONFIG_FILE: a.deconfigFile ?? '',
  };
}
