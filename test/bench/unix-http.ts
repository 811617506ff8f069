// JSON over HTTP on a Unix socket, for the plugin's socket and dockerd's API: one keep-alive
// agent per socket, as dockerd keeps its connection to a plugin, so no connect is timed.
import { Agent, request } from 'node:http';

export interface UnixHttp {
  /** POSTs `body` as JSON to `path`; throws on a status other than 2xx, naming the answer. */
  post(path: string, body: unknown): Promise<Record<string, unknown>>;
  /** GETs `path` and parses the JSON answer; throws on a status other than 2xx. */
  get(path: string): Promise<unknown>;
  close(): void;
}

/** A client of the HTTP server on `socketPath`; `timeoutMs` bounds each request. */
export function unixHttp(socketPath: string, timeoutMs = 120_000): UnixHttp {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const send = (method: string, path: string, body?: unknown): Promise<unknown> => new Promise((resolve, reject) => {
    const data = body === undefined ? '' : JSON.stringify(body);
    const req = request({ socketPath, agent, path, method, timeout: timeoutMs,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) return reject(new Error(`${method} ${path}: ${status} ${text.slice(0, 400)}`));
        try {
          resolve(text ? JSON.parse(text) : {});
        } catch {
          resolve({ raw: text });
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs / 1000} s`)));
    req.end(data);
  });
  return {
    post: async (path, body) => (await send('POST', path, body)) as Record<string, unknown>,
    get: (path) => send('GET', path),
    close: () => agent.destroy(),
  };
}
