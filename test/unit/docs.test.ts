// The README's settings and network option tables follow the code: a setting
// or an option added, renamed or given another default in the code fails here
// until the README says so too.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { readmeProblems } from '../helpers/readme.js';
import { SETTINGS } from '../../src/config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

t.test('the real README matches the code', async (t) => {
  t.same(readmeProblems(README), []);
});

t.test('the check fails when a setting is removed from the README', async (t) => {
  const without = README.split('\n').filter((l) => !l.startsWith('| `OVSVLAN_LEASE_GRACE`')).join('\n');
  t.not(without, README, 'the row was there');
  t.same(readmeProblems(without), ['setting OVSVLAN_LEASE_GRACE (--lease-grace) is not in the README\'s settings table']);
});

t.test('the check fails on another default, an unknown setting, a missing or unknown option', async (t) => {
  t.match(readmeProblems(README.replace('| `--bridge` | `ovs0` |', '| `--bridge` | `br0` |')),
    [/OVSVLAN_BRIDGE: the README gives the default `br0`, the code "ovs0"/]);
  t.match(readmeProblems(README.replace('| `OVSVLAN_LOG_LEVEL`', '| `OVSVLAN_NOPE` | `--nope` | `x` | x |\n| `OVSVLAN_LOG_LEVEL`')),
    [/documents OVSVLAN_NOPE, which the code does not have/]);
  t.match(readmeProblems(README.split('\n').filter((l) => !l.startsWith('| `native_vlan`')).join('\n')),
    [/network option native_vlan is not in the README/]);
});

t.test('the managed plugin\'s config.json declares every setting', async (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../../config.json', import.meta.url), 'utf8')) as { env: Array<{ name: string }> };
  const declared = new Set(manifest.env.map((e) => e.name));
  t.same(SETTINGS.map((s) => s.env).filter((env) => !declared.has(env)), [], 'every OVSVLAN_* setting has an env entry');
});
