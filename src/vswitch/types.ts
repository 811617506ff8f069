// What the Vswitch takes and gives: bridges and ports as ovsvlan sees them.
import type { DatapathType } from './datapath.js';

export type { DatapathType };

export interface BridgeInfo {
  name: string;
  datapath: DatapathType;
  /** Created by ovsvlan (external_ids ovsvlan-owner=ovsvlan). */
  ours: boolean;
  portNames: string[];
}

/** A port (and its interface of the same name) as OVS has it: what reconciliation compares with what a network wants. */
export interface PortInfo {
  name: string;
  /** the bridge that holds it */
  bridge: string | undefined;
  tag: number | undefined;
  trunks: number[];
  vlanMode: string | undefined;
  protected: boolean;
  externalIds: Record<string, string>;
  /** the interface's type ('' for a system interface) and options */
  type: string;
  options: Record<string, string>;
  /** the interface's MTU as OVS reports it */
  mtu: number | undefined;
  /** OVS could not open the interface (e.g. "could not open network device X (No such device)") */
  error: string | undefined;
}

export interface AccessPort {
  bridge: string;
  name: string;
  /** undefined: an untagged port (overlay bridges) */
  tag: number | undefined;
  externalIds: Record<string, string>;
}

export interface TunnelPort {
  bridge: string;
  name: string;
  type: 'vxlan' | 'gre';
  remote: string;
  key: number;
  externalIds: Record<string, string>;
}

export interface UplinkPort {
  bridge: string;
  name: string;
  trunks: number[];
  nativeVlan: number | undefined;
  externalIds: Record<string, string>;
}

export interface HostPort {
  bridge: string;
  name: string;
  tag: number | undefined;
  mtu: number;
  externalIds: Record<string, string>;
}
