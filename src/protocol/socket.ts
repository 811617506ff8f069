// The plugin's Unix socket, opened before anything slow happens: dockerd dials
// a managed plugin's socket 500 ms after starting it, then only every 3 s.
// Requests that arrive before the daemon is ready wait for it; none is refused.
// Kept free of heavy imports: main.ts loads this before the rest of the daemon.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { OvsvlanError } from '../errors.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface PluginSocket {
  readonly server: Server;
  /** Starts serving: requests held so far, and every later one, go to `handler`. */
  attach(handler: RequestHandler): void;
  close(): Promise<void>;
}

/** Listens on `path` (mode 0660); a stale socket file is replaced, a live one is refused. */
export async function openSocket(path: string): Promise<PluginSocket> {
  let attach!: (h: RequestHandler) => void;
  const ready = new Promise<RequestHandler>((resolve) => (attach = resolve));
  const server = createServer((req, res) => void ready.then((h) => h(req, res)));
  // Docker keeps connections in a pool and never replays a POST on a closed one.
  server.keepAliveTimeout = 10 * 60_000;
  await mkdir(dirname(path), { recursive: true });
  if (await socketAnswers(path)) throw new OvsvlanError('OVSVLAN_ERR_CONFIG', `another process is serving ${path}; stop it first`);
  await unlink(path).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o660);
  return {
    server,
    attach,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** True when something accepts connections on the Unix socket. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
