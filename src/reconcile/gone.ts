// What Docker or the host no longer has, judged from what was read (pure):
// reconciliation acts on it (rules network-gone and endpoint-orphan) and
// `ovsvlan status` reports it as drift of the same names. One owner, so that
// status never calls drift what reconciliation leaves alone, or the reverse.
import type { EndpointRecord } from '../store/records.js';
import type { DockerView } from './docker.js';

/**
 * network-gone: Docker answered and has no network of this ID (it was removed
 * while ovsvlan was not there to hear DeleteNetwork). Without Docker's view: never.
 */
export function networkGone(networkId: string, view: DockerView | undefined): boolean {
  return view?.networks.get(networkId) === null;
}

/** What endpointOrphan reads besides the endpoint. */
export interface OrphanFacts {
  /** the endpoint's network has a record */
  networkRecorded: boolean;
  /** Docker's view; undefined when Docker was not read */
  view: DockerView | undefined;
  /** the host namespace's link names */
  links: { has(name: string): boolean };
  now: number;
  /** OVSVLAN_LEASE_GRACE: Docker lists an endpoint only once its container is up */
  graceMs: number;
}

/** An orphan and why; or not one, with when its grace ends if it would be one were it older. */
export type OrphanVerdict = { orphan: true; why: string } | { orphan: false; youngUntil: number | undefined };

const WHILE_AWAY = 'its container was removed or stopped while ovsvlan was not running';

/**
 * endpoint-orphan: the endpoint's network has no record; or, once the endpoint
 * is older than the grace, Docker (when read) does not list it on its network,
 * or its container end is back among the host's links (where Docker leaves it
 * when it tears a container down). A network Docker no longer has is
 * network-gone's, not this rule's.
 */
export function endpointOrphan(ep: EndpointRecord, f: OrphanFacts): OrphanVerdict {
  if (!f.networkRecorded) return { orphan: true, why: 'its network has no record' };
  const onNetwork = f.view?.networks.get(ep.networkId);
  const unlisted = Array.isArray(onNetwork) && !onNetwork.some((d) => d.endpointId === ep.id);
  const back = f.links.has(ep.containerIf);
  const createdAt = ep.createdAt ?? 0;
  if (f.now - createdAt <= f.graceMs) {
    return { orphan: false, youngUntil: unlisted || back ? createdAt + f.graceMs + 1 : undefined };
  }
  if (unlisted) return { orphan: true, why: `Docker does not list it on its network: ${WHILE_AWAY}` };
  if (back) return { orphan: true, why: `its container end ${ep.containerIf} is back in the host: ${WHILE_AWAY}` };
  return { orphan: false, youngUntil: undefined };
}
