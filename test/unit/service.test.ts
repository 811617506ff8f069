// The systemd unit and settings file `ovsvlan install-service` writes, as text:
// the ordering and restart lines a boot depends on, the two rendered lines,
// and a settings file that lists every setting. systemd itself checks the
// unit in test/integration/service.test.ts.
import t from 'tap';
import { SETTINGS } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { readUnitTemplate, renderSettingsFile, renderUnit, unmentionedSettings } from '../../src/cli/service-unit.js';

const PATHS = { node: '/opt/node-20/bin/node', main: '/usr/lib/node_modules/ovsvlan/dist/main.js', envFile: '/etc/default/ovsvlan' };

/** `Key=value` lines of a unit, by key, in order (comments and sections left out). */
function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1] ?? '', [...(out.get(m[1] ?? '') ?? []), m[2] ?? '']);
  }
  return out;
}

/** The words of every `key=` line (After=a b + After=c → [a, b, c]). */
const words = (d: Map<string, string[]>, key: string): string[] => (d.get(key) ?? []).flatMap((v) => v.split(/\s+/));

t.test('the unit starts after Open vSwitch and before Docker, and is pulled in by Docker', async (t) => {
  const d = directives(renderUnit(await readUnitTemplate(), PATHS));
  t.same(words(d, 'After').filter((u) => /openvswitch|ovs/.test(u)).sort(),
    ['openvswitch-switch.service', 'openvswitch.service', 'ovs-vswitchd.service', 'ovsdb-server.service']);
  t.same(d.get('Wants'), ['openvswitch-switch.service']);
  t.notOk(d.has('Requires'), 'no Requires=: stopping OVS must not stop ovsvlan');
  t.notOk(d.has('BindsTo'));
  t.same(d.get('Before'), ['docker.service']);
  t.notOk(words(d, 'After').includes('docker.service'));
  t.same(words(d, 'WantedBy').sort(), ['docker.service', 'multi-user.target']);
  t.notOk(d.has('RequiredBy'), 'stopping ovsvlan must not stop Docker');
});

t.test('restart, reload, stop and state lines', async (t) => {
  const d = directives(renderUnit(await readUnitTemplate(), PATHS));
  t.same(d.get('Restart'), ['on-failure']);
  t.same(d.get('RestartSec'), ['2s']);
  t.same(d.get('ExecReload'), ['/bin/kill -HUP $MAINPID']);
  t.same(d.get('KillMode'), ['mixed'], 'SIGTERM to the daemon only');
  t.same(d.get('StateDirectory'), ['ovsvlan']);
  t.notOk(d.has('RuntimeDirectory'), 'a RuntimeDirectory would be deleted at stop');
  t.notOk(d.has('MemoryDenyWriteExecute'), "Node's JIT needs writable executable memory");
  t.same(d.get('Type'), ['notify'], 'started = the plugin socket listens (the daemon sends READY=1)');
  t.same(d.get('NotifyAccess'), ['all'], 'systemd-notify sends READY=1 for the daemon');
});

t.test('hardening leaves node and ovsvlan executable where nvm installs them (/root, /home)', async (t) => {
  const d = directives(renderUnit(await readUnitTemplate(), { ...PATHS, node: '/root/.nvm/versions/node/v20.19.0/bin/node',
    main: '/root/.nvm/versions/node/v20.19.0/lib/node_modules/ovsvlan/dist/main.js' }));
  // ProtectHome=yes makes /root, /home and /run/user inaccessible: such an ExecStart fails with 203/EXEC
  t.same(d.get('ProtectHome'), ['read-only']);
  t.notOk(d.has('InaccessiblePaths'));
  t.notOk(d.has('TemporaryFileSystem'));
});

t.test('install-service renders exactly ExecStart and EnvironmentFile', async (t) => {
  const template = await readUnitTemplate();
  const unit = renderUnit(template, { ...PATHS, envFile: '/srv/ovsvlan.env' });
  const d = directives(unit);
  t.same(d.get('ExecStart'), ['/opt/node-20/bin/node /usr/lib/node_modules/ovsvlan/dist/main.js daemon']);
  t.same(d.get('EnvironmentFile'), ['-/srv/ovsvlan.env']);
  const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const before = lines(template);
  const after = lines(unit);
  t.equal(after.length, before.length);
  t.same(after.filter((l) => !before.includes(l)),
    ['EnvironmentFile=-/srv/ovsvlan.env', 'ExecStart=/opt/node-20/bin/node /usr/lib/node_modules/ovsvlan/dist/main.js daemon']);
});

t.test('paths are escaped for systemd or refused', async (t) => {
  const template = await readUnitTemplate();
  const d = directives(renderUnit(template, { ...PATHS, node: '/opt/n%de/$HOME/node', envFile: '/etc/ovs%vlan' }));
  t.same(d.get('ExecStart'), ['/opt/n%%de/$$HOME/node /usr/lib/node_modules/ovsvlan/dist/main.js daemon']);
  t.same(d.get('EnvironmentFile'), ['-/etc/ovs%%vlan']);
  for (const envFile of ['etc/ovsvlan', '/etc/my settings', '/etc/a"b', '/etc/a\nExecStartPre=/bin/rm']) {
    t.throws(() => renderUnit(template, { ...PATHS, envFile }), ConfigError, JSON.stringify(envFile));
  }
  t.throws(() => renderUnit('[Service]\nExecStart=/a\nExecStart=/b\nEnvironmentFile=-/x\n', PATHS), /expected one ExecStart= line, found 2/);
});

t.test('the settings file lists every setting, commented out, with its default and doc', async (t) => {
  const text = renderSettingsFile('/etc/default/ovsvlan');
  t.match(text, /^# \/etc\/default\/ovsvlan: settings of ovsvlan\.service/);
  for (const s of SETTINGS) {
    t.ok(text.includes(`\n# ${s.doc} (${s.flag})\n#${s.env}=${s.default}\n`), s.env);
  }
  t.same(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')), [], 'no line is active');
  t.same(unmentionedSettings(text), []);
  t.same(unmentionedSettings('OVSVLAN_BRIDGE=br-vlan\n# OVSVLAN_SOCKET=/x\n'),
    SETTINGS.map((s) => s.env).filter((e) => e !== 'OVSVLAN_BRIDGE' && e !== 'OVSVLAN_SOCKET'));
});
