// The daemon under systemd (Type=notify): READY=1 once the plugin socket
// listens, STOPPING=1 at SIGTERM, and a SIGHUP that arrives while it is still
// starting (a `systemctl reload` right after start) does not kill it. The
// notification socket is a real Unix datagram socket (python3 listens on it:
// Node cannot bind one); OVSDB and Docker are never reached.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { OVSVLAN_MAIN, REPO_ROOT, socketAnswers } from '../helpers/plugin.js';
import { RUN_DIR, ensureRunDir, run, sleep, waitFor } from '../helpers/run.js';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
print("LISTENING", flush=True)
try:
    while True:
        print(s.recv(4096).decode().replace("\\n", " "), flush=True)
except socket.timeout:
    pass
`;

const hasPython = (await run('python3', ['-c', 'pass'])).exitCode === 0;

t.test('sd_notify and early signals', { skip: hasPython || process.env.CI ? false : 'python3 is not installed' }, async (t) => {
  await ensureRunDir();
  const dir = `${RUN_DIR}/notify`;
  await mkdir(dir, { recursive: true });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const notifySock = `${dir}/notify.sock`;
  const listener = spawn('python3', ['-c', LISTENER, notifySock], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void listener.kill());
  let heard = '';
  listener.stdout.on('data', (d: Buffer) => (heard += d.toString()));
  await waitFor('the notify listener', async () => heard.includes('LISTENING'), 10_000);

  const pluginSock = `${dir}/ovsvlan.sock`;
  const daemon = spawn(process.execPath, [OVSVLAN_MAIN, 'daemon'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NOTIFY_SOCKET: notifySock, OVSVLAN_SOCKET: pluginSock, OVSVLAN_STATE_DIR: `${dir}/state`,
      OVSVLAN_OVSDB: `unix:${dir}/no-ovsdb.sock`, OVSVLAN_DOCKER: '', OVSVLAN_LOG_LEVEL: 'error' },
  });
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
  t.teardown(() => void daemon.kill('SIGKILL'));
  // a reload as soon as the socket is there, while the daemon may still be loading:
  // the default action of SIGHUP would end the process
  await waitFor('the plugin socket', async () => socketAnswers(pluginSock), 15_000);
  daemon.kill('SIGHUP');

  await waitFor('READY=1', async () => heard.includes('READY=1'), 15_000);
  t.match(heard, new RegExp(`READY=1 MAINPID=${daemon.pid}`), 'READY=1 for the daemon\'s own PID');
  t.ok(await socketAnswers(pluginSock), 'the plugin socket answers once READY=1 is sent');
  await sleep(500);
  t.equal(daemon.exitCode, null, 'the early SIGHUP did not kill the daemon');

  daemon.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: exit 0');
  await waitFor('STOPPING=1', async () => heard.includes('STOPPING=1'), 5_000);
  t.pass('STOPPING=1 sent at shutdown');
});
