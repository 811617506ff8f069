// The `ovsvlan` operator commands (status, doctor…) run the way an operator
// runs them on the host: inside the simulated host's netns, with the same
// settings as that host's daemon.
import type { Host } from './host.js';
import { OVSVLAN_MAIN, REPO_ROOT } from './plugin.js';
import { run, type RunResult } from './run.js';

export function ovsvlanCli(host: Host, args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  const plugin = host.plugin;
  if (!plugin) throw new Error(`host ${host.name} has no ovsvlan daemon: startPlugin() first`);
  return run('ip', ['netns', 'exec', host.ns.name, process.execPath, OVSVLAN_MAIN, ...args], {
    cwd: REPO_ROOT,
    timeout: 60_000,
    env: {
      OVSVLAN_SOCKET: plugin.socket,
      OVSVLAN_OVSDB: host.ovs.endpoint,
      OVSVLAN_STATE_DIR: plugin.stateDir,
      OVSVLAN_BRIDGE: plugin.bridge,
      OVSVLAN_DOCKER: `unix://${host.dockerd.sock}`,
      ...env,
    },
  });
}
