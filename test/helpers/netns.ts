// Network namespaces for tests: every "host" and every fake container is one.
import { run, runOk } from './run.js';

export interface Netns {
  readonly name: string;
  /** Runs a command inside the namespace (ip netns exec; fine for everything but dockerd). */
  exec(cmd: string, args: readonly string[]): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  execOk(cmd: string, args: readonly string[]): Promise<string>;
  /** `ip -n NAME …` */
  ip(args: readonly string[]): Promise<string>;
  remove(): Promise<void>;
}

/** Creates a namespace with lo up and IPv6 off (no RS/MLD noise in captures). */
export async function createNetns(name: string): Promise<Netns> {
  await runOk('ip', ['netns', 'add', name]);
  await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  await run('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  return {
    name,
    exec: (cmd, args) => run('ip', ['netns', 'exec', name, cmd, ...args]),
    execOk: (cmd, args) => runOk('ip', ['netns', 'exec', name, cmd, ...args]),
    ip: (args) => runOk('ip', ['-n', name, ...args]),
    remove: async () => {
      await run('ip', ['netns', 'del', name]);
    },
  };
}

/** Names of links in a namespace (or the root namespace when `ns` is undefined). */
export async function linkNames(ns?: string): Promise<string[]> {
  const args = ns ? ['-n', ns, '-j', 'link', 'show'] : ['-j', 'link', 'show'];
  const out = await runOk('ip', args);
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname);
}
