// Micro-benchmark of the publish permission check: `node dist/bench/publish-permits.js`.
// What a publish pays for write permission with the channel's cache, against
// the regex per publish the cache avoids. Not a timed test.
import { AccessControl } from '../src/auth/access-control.js';
import { PublishPermits } from '../src/auth/publish-permits.js';
import { VHost } from '../src/routing/topology.js';

const N = 20_000_000;
const access = new AccessControl();
access.putUser('u', { password: 'p' });
access.setPermissions('u', '/', { configure: '.*', write: '^(amq\\.default|orders\\..*)$', read: '.*' });
const permits = new PublishPermits(access, 'u', '/');
const exchange = new VHost('/').exchanges.get('')!;
const key = () => 'orders.eu';
const write = new RegExp('^(amq\\.default|orders\\..*)$');

for (let round = 1; round <= 3; round++) {
  let start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) permits.check(exchange, key);
  const cached = Number(process.hrtime.bigint() - start) / N;
  start = process.hrtime.bigint();
  let matched = 0;
  for (let i = 0; i < N; i++) if (write.test('amq.default')) matched++;
  const regex = Number(process.hrtime.bigint() - start) / N;
  console.log(`round ${round}: cached check ${cached.toFixed(1)} ns/publish, a regex per publish ${regex.toFixed(1)} ns (${matched === N ? 'all matched' : 'mismatch'})`);
}
