// The spares OVS holds, as reconciliation and DeleteNetwork find them: every
// port marked `ovsvlan-role=spare`, with its network and bridge.
import { CONTAINER_IF_PREFIX, HOST_IF_PREFIX, NETWORK_KEY, ROLE_KEY } from '../names.js';
import type { PortInfo, Vswitch } from '../vswitch/vswitch.js';
import type { Spare } from './spares.js';

/** A spare port found in OVS: the spare, and where its port is. */
export interface FoundSpare extends Spare {
  bridge: string | undefined;
  tag: number | undefined;
}

/** Whether an OVS port of ovsvlan's is a spare (whatever its network). */
export const isSparePort = (p: Pick<PortInfo, 'externalIds'>): boolean => p.externalIds[ROLE_KEY] === 'spare';

/** A spare port as a spare: its container end shares its host end's 12 hex digits (names.ts spareVethNames). */
export function spareOf(p: PortInfo): FoundSpare {
  const container = p.name.startsWith(HOST_IF_PREFIX) ? `${CONTAINER_IF_PREFIX}${p.name.slice(HOST_IF_PREFIX.length)}` : p.name;
  return { host: p.name, container, networkId: p.externalIds[NETWORK_KEY] ?? '', bridge: p.bridge, tag: p.tag };
}

/** Every spare port in OVS. */
export async function listOwnedSpares(vswitch: Pick<Vswitch, 'listOwnedPorts'>): Promise<FoundSpare[]> {
  return (await vswitch.listOwnedPorts()).filter(isSparePort).map(spareOf);
}
