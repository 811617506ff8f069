// What a DHCP network needs of the daemon's own process, checked when such a
// network is created (CreateNetwork), before anything is made: the programs
// the client runs (BusyBox udhcpc, util-linux nsenter) and the capabilities it
// uses (udhcpc's raw socket, entering a container's netns). Without them the
// first lease or the renewal client would fail later, one container at a
// time, or a container would run with a lease nothing renews. The managed
// plugin as shipped is the case in point: it has no CAP_SYS_ADMIN.
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Capability numbers (linux/capability.h) and why a DHCP network needs each. */
const NEEDED = [
  { bit: 12, name: 'CAP_NET_ADMIN', why: 'setting the address udhcpc leases' },
  { bit: 13, name: 'CAP_NET_RAW', why: 'udhcpc\'s raw socket' },
  { bit: 21, name: 'CAP_SYS_ADMIN', why: 'entering a container\'s network namespace (setns) for the renewal client' },
] as const;

const PROGRAMS = [
  { name: 'busybox', why: 'its udhcpc is the DHCP client', fix: 'apt-get install busybox-static' },
  { name: 'nsenter', why: 'it runs the renewal client in the container\'s network namespace', fix: 'apt-get install util-linux' },
] as const;

/** The effective capability set in a /proc/<pid>/status text, undefined when it has none. */
export function effectiveCaps(statusText: string): bigint | undefined {
  const hex = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

/** Whether an executable `name` is in one of `path`'s directories. */
export function onPath(name: string, path: string): boolean {
  return path.split(':').filter(Boolean).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface PreflightFacts {
  /** /proc/self/status of the daemon */
  status: string;
  /** the daemon's PATH */
  path: string;
}

/** What stops a DHCP network from working in a process with `facts`, each with its fix; empty when nothing does. */
export function dhcpProblems(facts: PreflightFacts): string[] {
  const problems: string[] = [];
  const caps = effectiveCaps(facts.status);
  const missingCaps = NEEDED.filter((c) => caps !== undefined && (caps & (1n << BigInt(c.bit))) === 0n);
  for (const c of missingCaps) problems.push(`the daemon has no ${c.name}, which ${c.why} needs`);
  if (missingCaps.length > 0) {
    problems.push('run ovsvlan as a service for DHCP networks (docs/dhcp.md, "Requirements and limits"): the managed plugin as shipped cannot enter containers\' namespaces');
  }
  for (const p of PROGRAMS.filter((x) => !onPath(x.name, facts.path))) problems.push(`${p.name} is not on the daemon's PATH (${p.why}): ${p.fix}`);
  return problems;
}

/** dhcpProblems of this process. */
export function ownDhcpProblems(): string[] {
  return dhcpProblems({ status: readFileSync('/proc/self/status', 'utf8'), path: process.env['PATH'] ?? '' });
}
