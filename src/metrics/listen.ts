// Where the metrics endpoint listens: OVSVLAN_METRICS=ADDR:PORT (pure, no
// prom-client here: config.ts checks the setting with it in every command).
import { isIPv4, isIPv6 } from 'node:net';

export interface ListenAddress {
  /** An IP literal, without brackets. */
  readonly host: string;
  readonly port: number;
}

/** What a bad OVSVLAN_METRICS is told. */
export const LISTEN_FORM = 'must be empty (off) or IP:PORT, e.g. 127.0.0.1:9474, [::1]:9474 or 0.0.0.0:9474';

/**
 * `127.0.0.1:9474`, `[::1]:9474`, `0.0.0.0:9474` → host and port; undefined
 * when the value is not an IP literal (IPv6 in brackets) and a port 1–65535.
 * Host names are refused: a listener must not depend on name resolution.
 */
export function parseListenAddress(value: string): ListenAddress | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const [, v6, v4, portText = ''] = m;
  if (v6 !== undefined ? !isIPv6(v6) : !isIPv4(v4 ?? '')) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65_535) return undefined;
  return { host: v6 ?? v4 ?? '', port };
}
