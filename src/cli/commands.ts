// The `ovsvlan` commands as a table: name → help and a loader. Loading is lazy
// so that `ovsvlan daemon` pulls in nothing but the daemon (its socket must be
// open within a few hundred milliseconds of the start).
import type { CommandLine, FlagSpec } from '../config.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Command {
  readonly name: string;
  /** One line for `ovsvlan --help`. */
  readonly summary: string;
  /** What the command does, for `ovsvlan CMD --help`. */
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  /** Whether the daemon's settings (`--socket`, `--ovsdb`, … and OVSVLAN_*) apply. */
  readonly settings: boolean;
  readonly example: string;
  /** Runs the command; returns the exit status. */
  run(cl: CommandLine, env: Env): Promise<number>;
}

export const COMMANDS: readonly Command[] = [
  {
    name: 'daemon',
    summary: 'run the Docker network and IPAM plugin in the foreground',
    description: 'Serves Docker\'s NetworkDriver and IpamDriver protocol on the plugin socket, JSON logs on stdout.\n'
      + 'SIGHUP reconciles now; SIGTERM stops the daemon and leaves the data plane as it is (containers keep their network).',
    flags: {},
    settings: true,
    example: 'ovsvlan daemon --bridge br-vlan --log-level debug',
    run: async (cl, env) => (await import('./daemon.js')).runDaemon(cl, env),
  },
  {
    name: 'status',
    summary: 'show every network and endpoint ovsvlan made, and any drift between its records, OVS and the kernel',
    description: 'Reads the state directory, OVSDB, the kernel\'s links and (when it answers) Docker; works with the daemon stopped.\n'
      + 'Drift: a network Docker no longer has, a record whose port or veth is missing or wrong, a port of ovsvlan\'s that\n'
      + 'no record explains, an endpoint older than --lease-grace whose container is gone (removed or stopped while the daemon was not running).\n'
      + 'Exit status: 0 no drift, 1 drift found, 2 could not read what it needs.',
    flags: { json: { type: 'boolean', help: 'print one JSON document instead of tables' } },
    settings: true,
    example: 'ovsvlan status --json | jq \'.endpoints[] | {container, port, tag, addressV4}\'',
    run: async (cl, env) => (await import('./status.js')).runStatus(cl, env),
  },
  {
    name: 'doctor',
    summary: 'check this host for the pitfalls of OVS container networking (rp_filter, MTU, offloads, trunks…)',
    description: 'Prints one line per check, PASS, WARN or FAIL, and for each problem the command that fixes it:\n'
      + 'OVSDB and ovs-vswitchd, the datapath, the plugin socket and its answer, Docker, ip_forward, rp_filter on uplinks\n'
      + 'and host_ip ports, uplink and tunnel MTUs, the VLANs on trunks, tx checksum offload in containers on netdev bridges.\n'
      + 'Changes nothing. Run it as root on the host, with the daemon\'s settings.\n'
      + 'Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 on a usage error.',
    flags: {},
    settings: true,
    example: 'ovsvlan doctor | grep -v ^PASS',
    run: async (cl, env) => (await import('./doctor.js')).runDoctor(cl, env),
  },
  {
    name: 'install-service',
    summary: 'install and enable the systemd unit ovsvlan.service (before docker.service) and its settings file',
    description: 'Writes /etc/systemd/system/ovsvlan.service for this installation of ovsvlan and, when absent,\n'
      + '/etc/default/ovsvlan with every setting commented out; then runs systemctl daemon-reload and enable --now.\n'
      + 'Where systemd is not running, writes both files and prints the systemctl commands to run.\n'
      + 'Exit status: 0 done, 1 a step failed (it says which), 2 a bad flag.',
    flags: {
      'unit-dir': { type: 'string', help: 'where to write the unit (default /etc/systemd/system)' },
      // not --env-file: Node 20 checks that file exists wherever --env-file stands in argv, and exits 9
      'settings-file': { type: 'string', help: 'settings file the unit reads, written only when absent (default /etc/default/ovsvlan)' },
      'no-start': { type: 'boolean', help: 'write and enable the unit, do not start it now' },
      'print': { type: 'boolean', help: 'print the unit on stdout and change nothing' },
    },
    settings: false,
    example: 'ovsvlan install-service && systemctl status ovsvlan',
    run: async (cl, env) => (await import('./install-service.js')).runInstallService(cl, env),
  },
  {
    // two words: main.ts takes a first argument and the next as one command when the table has that name
    name: 'ipam reclaim',
    summary: 'cluster mode: free the addresses of a host that is gone for good, and fence it',
    description: 'Refused while the host\'s liveness record is in etcd (its daemon runs, or stopped less than 15 s ago).\n'
      + 'Writes a fence for the host, deletes each of its address keys and takes it out of every network definition.\n'
      + 'If the host comes back, its daemon takes no new address until it has restored its own, and reports those\n'
      + 'now in use on another host as conflicts (ovsvlan status) instead of taking them back. Running it again is harmless.\n'
      + 'Needs the daemon\'s OVSVLAN_ETCD* settings. Exit status: 0 done, 1 refused, 2 a usage error or etcd unreachable.',
    flags: {
      host: { type: 'string', help: 'the id of the lost host (OVSVLAN_HOST_ID on it; see ovsvlan status)' },
      json: { type: 'boolean', help: 'print the freed addresses as one JSON document' },
    },
    settings: true,
    example: 'ovsvlan ipam reclaim --host node-7',
    run: async (cl, env) => (await import('./reclaim.js')).runReclaim(cl, env),
  },
  {
    name: 'version',
    summary: 'print the version',
    description: 'Prints "ovsvlan X.Y.Z".',
    flags: {},
    settings: false,
    example: 'ovsvlan version',
    run: async () => (await import('./version.js')).runVersion(),
  },
];

export function findCommand(name: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
