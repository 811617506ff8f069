// Starting a server (pure Node, no heavy imports: the plugin socket opens
// with it before the daemon loads): one wrapper for the plugin socket, the
// state directory's lock socket and the metrics port.
import type { Server } from 'node:net';

/** sun_path holds 108 bytes with its NUL; Node cuts a longer path silently. */
export const MAX_SOCKET_PATH = 107;

/** Resolves once `server` listens on the Unix socket path or TCP address; rejects with the listen error, leaving no listener behind. */
export function listen(server: Server, at: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
