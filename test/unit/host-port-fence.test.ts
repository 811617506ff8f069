// A host port's fence (src/link/harden.ts hostPortFence): its program's size
// for a number of other networks' host_ips, and the clear refusal past the
// kernel's limit on one classic BPF program, where the kernel says only EINVAL.
import t from 'tap';
import { OvsvlanError } from '../../src/errors.js';
import { BPF_MAX_INSNS, hostPortFence } from '../../src/link/harden.js';

const v4 = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.1`);
const v6 = (n: number): string[] => Array.from({ length: n }, (_, i) => `fd00:${i.toString(16)}::1`);

t.test('9 instructions, 2 more per IPv4 and 9 more per IPv6 address', async (t) => {
  t.equal(hostPortFence('p', []).length, 9);
  t.equal(hostPortFence('p', v4(3)).length, 9 + 2 * 3);
  t.equal(hostPortFence('p', v6(2)).length, 9 + 9 * 2);
  t.equal(hostPortFence('p', [...v4(5), ...v6(5)]).length, 9 + 2 * 5 + 9 * 5);
  t.equal(hostPortFence('p', ['10.1.0.1', '10.1.0.1', 'fd00::1', 'fd00:0::1']).length, 9 + 2 + 9, 'networks sharing a host_ip (however written) cost one comparison');
});

t.test('the most that fits the kernel\'s limit, and one more', async (t) => {
  t.equal(hostPortFence('p', v4(2043)).length, BPF_MAX_INSNS - 1, '2,043 IPv4 addresses fit');
  t.equal(hostPortFence('p', v6(454)).length, BPF_MAX_INSNS - 1, '454 IPv6 addresses fit');
  t.equal(hostPortFence('p', [...v6(454), ...v6(454)]).length, BPF_MAX_INSNS - 1, 'and twice each: one subnet and host_ip on two VLANs each');
  for (const foreign of [v4(2044), v6(455), [...v4(1000), ...v6(300)]]) {
    let err: unknown;
    try {
      hostPortFence('ovl-hp1', foreign);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof OvsvlanError && err.code === 'OVSVLAN_ERR_CONFLICT', `${foreign.length} addresses: a ConflictError, not the kernel's EINVAL`);
    t.match((err as Error).message, new RegExp(`^cannot fence host port ovl-hp1: ${foreign.length} other networks' host_ip addresses .* over the kernel's limit of 4096 .*remove the host_ip option`));
  }
});
