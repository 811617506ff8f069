// What the Vswitch takes and gives: bridges and ports as ovsvlan sees them.

export type DatapathType = 'system' | 'netdev';

export interface BridgeInfo {
  name: string;
  datapath: DatapathType;
  /** Created by ovsvlan (external_ids ovsvlan-owner=ovsvlan). */
  ours: boolean;
  portNames: string[];
}

export interface PortInfo {
  name: string;
  bridge: string | undefined;
  tag: number | undefined;
  externalIds: Record<string, string>;
}

/** What reconciliation compares with what a network wants. */
export interface PortState {
  bridge: string | undefined;
  tag: number | undefined;
  trunks: number[];
  vlanMode: string | undefined;
  protected: boolean;
  externalIds: Record<string, string>;
  /** the interface's type ('' for a system interface) and options */
  type: string;
  options: Record<string, string>;
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
