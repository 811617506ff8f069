// Reconciliation of DHCP networks (issue 12), run with the other rules:
//   dhcp-client-orphan   a renewal client runs for an endpoint that is gone → stop it
//   dhcp-client-missing  a joined DHCP endpoint's container runs without its renewal client
//                        (the daemon or the client died) → start it again, asking for the same address
//   dhcp-parked-removed  dhcp_release=remove: the container of a parked lease is removed → give the lease back
//                        in the background (dhcp-release.ts), then forget the MAC's address
// Renewal clients still running after a restart are adopted as they are: they
// were started detached and outlive the daemon.
import type { DhcpRenewals } from '../driver/dhcp-renewal.js';
import { shortId } from '../names.js';
import type { StateCache } from '../store/state.js';
import type { DockerView } from './docker.js';
import type { ParkedReleases } from './dhcp-release.js';

/** The rule runner's view of an action and a guarded step (reconcile.ts Act). */
export interface DhcpAct {
  (rule: string, fields: Record<string, unknown>): void;
  guard: (fields: Record<string, unknown>, fn: () => Promise<void>) => Promise<void>;
}

/** Called by each reconciliation after the endpoints' rules; no-op without DHCP networks. */
export async function reconcileDhcp(state: StateCache, renewals: DhcpRenewals | undefined, releases: ParkedReleases | undefined,
  view: DockerView | undefined, act: DhcpAct): Promise<void> {
  if (renewals) await act.guard({ rule: 'dhcp-clients' }, () => renewals.reconcile(act));
  if (!view) return; // whether a container is removed is Docker's to say
  for (const net of state.networks()) {
    const parked = Object.entries(net.dhcpKnown ?? {}).filter(([, k]) => k.parked && k.containerId && !view.containers.has(k.containerId));
    if (parked.length === 0) continue;
    await act.guard({ network: shortId(net.id) }, async () => {
      for (const [mac, k] of parked) act('dhcp-parked-removed', { network: shortId(net.id), mac, address: k.address, container: shortId(k.containerId ?? '') });
      if (releases?.supported) {
        for (const [mac, k] of parked) releases.schedule(net, mac, k); // forgotten once given back
        return;
      }
      const gone = new Set(parked.map(([mac]) => mac));
      await state.putNetwork({ ...net, dhcpKnown: Object.fromEntries(Object.entries(net.dhcpKnown ?? {}).filter(([mac]) => !gone.has(mac))) });
    });
  }
}
