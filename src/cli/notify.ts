// sd_notify for the service (Type=notify): "READY=1" once the plugin socket
// listens, "STOPPING=1" on shutdown. Node cannot write to a Unix datagram
// socket, so systemd's own `systemd-notify` sends it on the daemon's behalf
// (`--pid` names the daemon; the unit sets NotifyAccess=all). Without
// NOTIFY_SOCKET (not under systemd) nothing is done.
import type { Env } from './commands.js';

const TIMEOUT_MS = 5_000;

/** Returns a warning to log when the notification could not be sent, else undefined. */
export async function notifySystemd(env: Env, state: 'READY=1' | 'STOPPING=1'): Promise<string | undefined> {
  if (!env['NOTIFY_SOCKET']) return undefined;
  const { execa } = await import('execa');
  const args = [`--pid=${process.pid}`, state === 'READY=1' ? '--ready' : state];
  const r = await execa('systemd-notify', args, { reject: false, stdin: 'ignore', timeout: TIMEOUT_MS });
  return r.exitCode === 0 ? undefined : `systemd-notify ${args.join(' ')} failed (${r.exitCode ?? r.signal}): ${String(r.stderr).trim()}`;
}
