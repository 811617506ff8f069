// The cause in "etcd unreachable: … (<cause>)" (src/cluster/etcd-kv.ts causeText): gRPC's wrapping
// ("14 UNAVAILABLE: …", "Last error: Error: …", a trailing "Resolution note: ") is cut, the cause a user
// can act on is kept.
import t from 'tap';
import { causeText } from '../../src/cluster/etcd-kv.js';

t.test('gRPC noise is trimmed, the cause kept', async (t) => {
  t.equal(causeText('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 10.99.0.250:2381. Resolution note: '),
    'connect ECONNREFUSED 10.99.0.250:2381');
  t.equal(causeText('14 UNAVAILABLE: No connection established. Last error: null. Resolution note: '), 'No connection established');
  t.equal(causeText('4 DEADLINE_EXCEEDED: Deadline exceeded after 1.002s,LB pick: 0.001s,remote_addr=127.0.0.1:2379'), 'Deadline exceeded after 1.002s');
  t.equal(causeText('14 UNAVAILABLE: Connection dropped'), 'Connection dropped');
  t.equal(causeText('no answer'), 'no answer', 'messages of ours are kept');
  t.equal(causeText('Execution prevented because the circuit breaker is open'), 'Execution prevented because the circuit breaker is open');
});
