// The metrics endpoint: a plain node:http server on OVSVLAN_METRICS, apart
// from the plugin socket, serving
//   GET /metrics   Prometheus text (the registry, collected at each scrape)
//   GET /healthz   200 "ok" when OVSDB is connected and the state loaded, else 503 and why
// Nothing here is on a container's path: a slow scraper waits only for itself.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { listen } from '../listen.js';
import { parseListenAddress, type ListenAddress } from './listen.js';
import type { Metrics } from './metrics.js';

export interface MetricsServer {
  /** Where it listens, as `host:port` (IPv6 in brackets; the port the kernel chose when asked for 0). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves on OVSVLAN_METRICS (already checked by config.ts). A listener that
 * cannot be opened (address in use, not on this host) is logged as an error
 * and the daemon runs on without it: Docker's containers need the plugin more
 * than a scraper needs its target, and the scraper sees the target down.
 */
export async function openMetrics(setting: string, metrics: Metrics, log: Logger): Promise<MetricsServer | undefined> {
  const at = parseListenAddress(setting);
  if (!at) throw new Error(`OVSVLAN_METRICS "${setting}" was not checked`);
  try {
    const server = await serveMetrics(at, metrics, log);
    log.info({ metrics: server.url }, `metrics on http://${server.url}/metrics, health on /healthz`);
    return server;
  } catch (err) {
    log.error({ err, metrics: setting }, `cannot serve metrics on OVSVLAN_METRICS=${setting}: ${(err as Error).message}; running without them`);
    return undefined;
  }
}

/** Listens on `at`; rejects when it cannot (address in use, not local). */
export async function serveMetrics(at: ListenAddress, metrics: Metrics, log: Logger): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    answer(req, res, metrics).catch((err: unknown) => {
      log.error({ err, path: req.url }, `metrics request failed: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  // a scraper holding a connection open must not hold close() back
  server.keepAliveTimeout = 5_000;
  await listen(server, { host: at.host, port: at.port });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : at.port;
  return {
    url: at.host.includes(':') ? `[${at.host}]:${port}` : `${at.host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, metrics: Metrics): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path !== '/metrics' && path !== '/healthz') return send(res, 404, 'text/plain', 'not found: try /metrics or /healthz\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }
  if (path === '/healthz') {
    const why = metrics.unhealthy();
    return send(res, why ? 503 : 200, 'text/plain', `${why ?? 'ok'}\n`);
  }
  send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
