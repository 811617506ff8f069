// The plugin's Unix socket, opened before anything slow happens: dockerd dials
// a managed plugin's socket 500 ms after starting it, then only every 3 s.
// Requests that arrive before the daemon is ready wait for it; none is refused.
// Kept free of heavy imports: main.ts loads this before the rest of the daemon.
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, rename, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { ConfigError, OvsvlanError, quoted } from '../errors.js';
import { listen, MAX_SOCKET_PATH } from '../listen.js';


export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface PluginSocket {
  readonly server: Server;
  /** Starts serving: requests held so far, and every later one, go to `handler`. */
  attach(handler: RequestHandler): void;
  /**
   * Stops listening and removes the socket file if it is still ours (not
   * replaced by another daemon since): after a clean stop or a failed start,
   * Docker finds no plugin rather than a dead one.
   */
  close(): Promise<void>;
}

/**
 * Listens on `path` (mode 0660); a stale socket file is replaced, a live one
 * is refused. The socket is made under a hidden name and renamed into place:
 * Node removes the path it listened on when it closes, and that must never be
 * a socket another daemon has put at `path` since; close() removes `path`
 * only while it is still this socket.
 */
export async function openSocket(path: string): Promise<PluginSocket> {
  let attach!: (h: RequestHandler) => void;
  const ready = new Promise<RequestHandler>((resolve) => (attach = resolve));
  const server = createServer((req, res) => void ready.then((h) => h(req, res)));
  // Docker keeps connections in a pool and never replays a POST on a closed one.
  server.keepAliveTimeout = 10 * 60_000;
  const hidden = join(dirname(path), `.${randomBytes(4).toString('hex')}`);
  if (Math.max(Buffer.byteLength(path), Buffer.byteLength(hidden)) > MAX_SOCKET_PATH) {
    throw new ConfigError(`OVSVLAN_SOCKET: ${quoted(path)} is too long for a Unix socket (at most ${MAX_SOCKET_PATH} bytes, and ${MAX_SOCKET_PATH - 10} for its directory)`);
  }
  await mkdir(dirname(path), { recursive: true });
  if (await socketAnswers(path)) throw new OvsvlanError('OVSVLAN_ERR_CONFIG', `another process is serving ${path}; stop it first`);
  await refuseNonSocket(path);
  await listen(server, hidden);
  const close = (): Promise<void> => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  let ours: { dev: number; ino: number };
  try {
    await chmod(hidden, 0o660);
    await rename(hidden, path); // replaces a stale socket file in one step
    ours = await stat(path);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    server,
    attach,
    close: async () => {
      const now = await stat(path).catch(() => undefined);
      if (now?.dev === ours.dev && now.ino === ours.ino) await rm(path, { force: true });
      await close();
    },
  };
}

/** Only a stale socket file is replaced: a file, directory or link at `path` is the operator's, never removed. */
async function refuseNonSocket(path: string): Promise<void> {
  const found = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!found || found.isSocket()) return;
  const what = found.isDirectory() ? 'a directory' : found.isSymbolicLink() ? 'a symbolic link' : found.isFile() ? 'a regular file' : 'not a socket';
  throw new ConfigError(`OVSVLAN_SOCKET: ${quoted(path)} is ${what}, not a socket; ovsvlan replaces only a stale socket there: remove it, or give another path`);
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
