/**
 * Dead-lettering, as RabbitMQ 3.10: messages rejected (requeue=false), expired
 * or dropped by a length limit go to the queue's x-dead-letter-exchange, with
 * its x-dead-letter-routing-key or their own, carrying the x-death header
 * (count, reason, queue, time, exchange, routing-keys, original-expiration) and
 * x-first-death-*; a DLX that does not exist drops them. The dead letter is
 * routed by the acceptor, so with worker shards a queue on one shard
 * dead-letters into a queue on another: the tests place them so explicitly.
 * Every message is numbered.
 */
import type { Channel, ConsumeMessage, GetMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../../dist/src/index.js';
import { shardOf } from '../../dist/src/shard/placement.js';
import { MODES, bodies, confirmChannel, connect, drain, sleep, subscribe, uniq, useBroker, tempDirs } from '../helpers.js';
import { EDGE_NAMES, fitBytes } from '../property/arbitraries.js';
import { RawClient, frame, method, shortstr, u16, u32, u64, u8 } from '../wire/raw-client.js';

const numbered = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** The shard count of a broker started with `workers` (0 runs one shard inline). */
const shardsOf = (workers: number) => Math.max(1, workers);

/** A fresh queue name whose queue lives on `shard`. */
function nameOnShard(prefix: string, shard: number, shards: number): string {
  for (;;) {
    const name = uniq(prefix);
    if (shardOf('/', name, shards) === shard) return name;
  }
}

/** Everything in a queue, waiting until `count` arrived (dead letters are routed after the death). */
async function collect(ch: Channel, queue: string, count: number): Promise<(GetMessage | ConsumeMessage)[]> {
  const inbox = await subscribe(ch, queue, { noAck: true });
  const got = await inbox.waitFor(count, 5000);
  await sleep(100); // anything more would arrive now
  expect(inbox.messages).toHaveLength(count);
  await ch.cancel(inbox.consumerTag);
  return got;
}

const tempDir = tempDirs('warren-dl-');

describe.each(MODES)('dead-lettering: $name', ({ workers }) => {
  const server = useBroker(workers);
  const shards = shardsOf(workers);
  /** the source queue on shard 0, the dead-letter queue on the last shard (another one with workers) */
  const sourceName = (p: string) => nameOnShard(p, 0, shards);
  const deadName = (p: string) => nameOnShard(p, shards - 1, shards);

  /** A source queue on shard 0 whose DLX, a fanout, routes to a dead-letter queue on the last shard. */
  async function sourceAndDead(ch: Channel, exclusive: boolean): Promise<{ dlx: string; source: string; dead: string }> {
    const dlx = uniq('dlx');
    const source = sourceName('dl-src');
    const dead = deadName('dl-dead');
    await ch.assertExchange(dlx, 'fanout', { autoDelete: true });
    await ch.assertQueue(dead, { exclusive });
    await ch.bindQueue(dead, dlx, '');
    await ch.assertQueue(source, { exclusive, arguments: { 'x-dead-letter-exchange': dlx } });
    return { dlx, source, dead };
  }

  it('rejected and nacked (requeue=false) messages go to the DLX from one shard to another, with x-death', async () => {
    if (workers > 1) expect(shardsOf(workers)).toBeGreaterThan(1);
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { dlx, source, dead } = await sourceAndDead(ch, true);
    for (const body of numbered(30)) ch.publish('', source, Buffer.from(body), { headers: { n: body }, messageId: body });
    await ch.waitForConfirms();
    const before = Date.now();
    for (let i = 0; i < 30; i++) {
      const m = (await ch.get(source, { noAck: false })) as GetMessage;
      if (i % 3 === 0) ch.reject(m, false);
      else if (i % 3 === 1) ch.nack(m, false, false);
      else ch.ack(m);
    }
    const got = await collect(ch, dead, 20);
    expect(bodies(got)).toEqual(numbered(30).filter((_, i) => i % 3 !== 2));
    for (const m of got) {
      const body = m.content.toString();
      expect(m.fields.exchange).toBe(dlx);
      expect(m.fields.routingKey).toBe(source);
      expect(m.properties.messageId).toBe(body);
      const { n, 'x-death': deaths, ...rest } = m.properties.headers as any;
      expect(n).toBe(body);
      expect(rest).toEqual({ 'x-first-death-exchange': '', 'x-first-death-queue': source, 'x-first-death-reason': 'rejected' });
      expect(deaths).toHaveLength(1);
      const { time, ...death } = deaths[0];
      expect(death).toEqual({ count: 1, reason: 'rejected', queue: source, exchange: '', 'routing-keys': [source] });
      expect(time['!']).toBe('timestamp');
      expect(time.value).toBeGreaterThanOrEqual(Math.floor(before / 1000));
      expect(time.value).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    }
    expect(await drain(ch, source)).toEqual([]);
  });

  it('a basic.get that arrives with a reject or nack (requeue=false) on the same channel finds the dead letter already there', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    // Not exclusive: the raw client below reads them.
    const { source, dead } = await sourceAndDead(ch, false);
    for (const body of numbered(20)) ch.publish('', source, Buffer.from(body));
    await ch.waitForConfirms();
    // The drop and the get in one write, so that the broker reads them together:
    // the get must not overtake the dead letter on its way to the other queue.
    const raw = await RawClient.open(server.port);
    try {
      await raw.handshake();
      raw.send(method(1, 20, 10, shortstr('')));
      await raw.nextMethod(1, 20, 11);
      const got: string[] = [];
      for (let i = 0; i < 20; i++) {
        raw.send(method(1, 60, 70, u16(0), shortstr(source), u8(0)));
        const tag = (await raw.nextMethod(1, 60, 71)).payload.readBigUInt64BE(4);
        await raw.readFrame(); // its header
        await raw.readFrame(); // and body
        const drop = i % 2 === 0 ? method(1, 60, 90, u64(tag), u8(0)) : method(1, 60, 120, u64(tag), u8(0));
        raw.send(drop, method(1, 60, 70, u16(0), shortstr(dead), u8(1)));
        const answer = await raw.nextMethod(1, 60, -1);
        expect(answer.methodId, `the get after the drop of message ${i}: get-ok (71), not get-empty (72)`).toBe(71);
        await raw.readFrame();
        got.push((await raw.readFrame())!.payload.toString());
      }
      expect(got).toEqual(numbered(20));
    } finally {
      raw.destroy();
      await ch.deleteQueue(source);
      await ch.deleteQueue(dead);
    }
  });

  it('a nack of 3,000 unacked at once (multiple, requeue=false): a get sent with it finds the first dead letter and counts the rest; each arrives once, in order', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { source, dead } = await sourceAndDead(ch, true);
    const total = 3000; // many times what a shard writes in one turn
    for (const body of numbered(total)) ch.publish('', source, Buffer.from(body));
    await ch.waitForConfirms();
    const inbox = await subscribe(ch, source, { noAck: false });
    const delivered = await inbox.waitFor(total, 10_000);
    await ch.cancel(inbox.consumerTag);
    ch.nack(delivered[total - 1], true, false);
    const first = await ch.get(dead, { noAck: true });
    expect(first && first.content.toString()).toBe('m0');
    expect(first && first.fields.messageCount).toBe(total - 1);
    const rest = await collect(ch, dead, total - 1);
    expect(bodies(rest)).toEqual(numbered(total).slice(1));
    expect(rest.every((m) => (m.properties.headers!['x-death'] as { reason: string }[])[0].reason === 'rejected')).toBe(true);
    await ch.deleteQueue(source);
    await ch.deleteQueue(dead);
  });

  it('rejected, then deleted at once: every dead letter still arrives, in order', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const { source, dead } = await sourceAndDead(ch, true);
    const total = 600;
    for (const body of numbered(total)) ch.publish('', source, Buffer.from(body));
    await ch.waitForConfirms();
    const inbox = await subscribe(ch, source, { noAck: false });
    const delivered = await inbox.waitFor(total, 10_000);
    // The reject and the delete go out together: the broker takes them in one read.
    ch.nack(delivered[total - 1], true, false);
    await ch.deleteQueue(source);
    expect(bodies(await collect(ch, dead, total))).toEqual(numbered(total));
    await ch.deleteQueue(dead);
  });

  it("x-death's routing-keys holds the CC keys, not the BCC ones; a dead letter goes by its CC keys too, unless the queue sets a routing key", async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const entry = uniq('dl-cc-in');
    const dlx = uniq('dl-cc-dlx');
    await ch.assertExchange(entry, 'direct', { autoDelete: true });
    await ch.assertExchange(dlx, 'direct', { autoDelete: true });
    const byOwnKeys = sourceName('dl-cc-src');
    const byQueueKey = sourceName('dl-cc-src-rk');
    await ch.assertQueue(byOwnKeys, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx } });
    await ch.assertQueue(byQueueKey, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'k-dead' } });
    await ch.bindQueue(byOwnKeys, entry, 'k-own');
    await ch.bindQueue(byQueueKey, entry, 'k-rk');
    // in the DLX: one queue per key a dead letter could go by
    const deadBy: Record<string, string> = {};
    for (const key of ['k-own', 'k-rk', 'k-cc', 'k-dead']) {
      deadBy[key] = deadName(`dl-cc-${key}`);
      await ch.assertQueue(deadBy[key], { exclusive: true });
      await ch.bindQueue(deadBy[key], dlx, key);
    }
    ch.publish(entry, 'k-own', Buffer.from('m0'), { headers: { CC: ['k-cc'], BCC: ['k-bcc'], n: 0 } });
    ch.publish(entry, 'k-rk', Buffer.from('m1'), { headers: { CC: ['k-cc'], BCC: ['k-bcc'], n: 1 } });
    await ch.waitForConfirms();
    for (const q of [byOwnKeys, byQueueKey]) ch.reject((await ch.get(q, { noAck: false })) as GetMessage, false);

    // m0 goes by its own key and its CC key, m1 by the queue's key alone
    const [own] = await collect(ch, deadBy['k-own'], 1);
    const [cc] = await collect(ch, deadBy['k-cc'], 1);
    const [dead] = await collect(ch, deadBy['k-dead'], 1);
    expect(bodies([own, cc, dead])).toEqual(['m0', 'm0', 'm1']);
    expect(await drain(ch, deadBy['k-rk'])).toEqual([]);
    const deathOf = (m: GetMessage | ConsumeMessage) => (m.properties.headers as any)['x-death'][0];
    expect(deathOf(own)).toMatchObject({ queue: byOwnKeys, exchange: entry, 'routing-keys': ['k-own', 'k-cc'] });
    expect(deathOf(dead)).toMatchObject({ queue: byQueueKey, exchange: entry, 'routing-keys': ['k-rk', 'k-cc'] });
    // CC stays with a message that goes by its own keys; with the queue's key it is removed
    expect((own.properties.headers as any).CC).toEqual(['k-cc']);
    expect((dead.properties.headers as any).CC).toBeUndefined();
    expect((dead.properties.headers as any).n).toBe(1);
  });

  it('x-dead-letter-routing-key replaces the routing key; the same queue and reason again counts up', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const source = sourceName('dl-rk-src');
    const dead = deadName('dl-rk-dead');
    await ch.assertQueue(dead, { exclusive: true });
    await ch.assertQueue(source, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    ch.publish('', source, Buffer.from('m0'), { expiration: '60000' });
    await ch.waitForConfirms();
    let m: any = await ch.get(source, { noAck: false });
    ch.reject(m, false);
    // three times round: dead queue -> publish back to source -> reject
    for (let round = 2; round <= 3; round++) {
      [m] = await collect(ch, dead, 1);
      expect(m.fields.routingKey).toBe(dead);
      ch.publish('', source, m.content, m.properties);
      await ch.waitForConfirms();
      m = await ch.get(source, { noAck: false });
      ch.reject(m, false);
    }
    [m] = await collect(ch, dead, 1);
    expect(m.content.toString()).toBe('m0');
    const deaths = m.properties.headers['x-death'];
    expect(deaths).toHaveLength(1);
    expect(deaths[0]).toMatchObject({ count: 3, reason: 'rejected', queue: source, exchange: '', 'routing-keys': [source] });
    // the first death kept its original expiration, and the dead letter has none
    expect(deaths[0]['original-expiration']).toBe('60000');
    expect(m.properties.expiration).toBeUndefined();
  });

  it('a message that dies in two queues carries both deaths, the latest first; the first death stays first', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const first = sourceName('dl-two-a');
    const second = deadName('dl-two-b');
    const final = sourceName('dl-two-final');
    await ch.assertQueue(final, { exclusive: true });
    await ch.assertQueue(second, { exclusive: true, arguments: { 'x-message-ttl': 20, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': final } });
    await ch.assertQueue(first, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': second } });
    for (const body of numbered(5)) ch.publish('', first, Buffer.from(body));
    await ch.waitForConfirms();
    for (let i = 0; i < 5; i++) ch.reject((await ch.get(first, { noAck: false })) as GetMessage, false);
    const got = await collect(ch, final, 5);
    expect(bodies(got)).toEqual(numbered(5));
    for (const m of got) {
      const headers = m.properties.headers as any;
      expect(headers['x-death'].map((d: any) => `${d.reason} ${d.queue} ${d.count} ${d['routing-keys']} ${d.time['!']}`)).toEqual([
        `expired ${second} 1 ${second} timestamp`,
        `rejected ${first} 1 ${first} timestamp`,
      ]);
      expect([headers['x-first-death-reason'], headers['x-first-death-queue']]).toEqual(['rejected', first]);
      expect(m.fields.routingKey).toBe(final);
    }
  });

  it('names of any UTF-8, up to 255 bytes, for the dead-letter exchange, routing key and queues', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    for (const name of EDGE_NAMES) {
      const dlx = fitBytes(`${name}x`);
      const key = fitBytes(`${name}k`);
      const source = fitBytes(`${uniq('s')}${name}`);
      const dead = fitBytes(`${uniq('d')}${name}`);
      await ch.assertExchange(dlx, 'direct', { autoDelete: true });
      await ch.assertQueue(dead, { exclusive: true });
      await ch.bindQueue(dead, dlx, key);
      await ch.assertQueue(source, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': key } });
      ch.publish('', source, Buffer.from(name));
      await ch.waitForConfirms();
      ch.reject((await ch.get(source, { noAck: false })) as GetMessage, false);
      const [m] = await collect(ch, dead, 1);
      expect(m.content.toString()).toBe(name);
      expect([m.fields.exchange, m.fields.routingKey]).toEqual([dlx, key]);
      expect((m.properties.headers as any)['x-death'][0]).toMatchObject({ queue: source, 'routing-keys': [source] });
      await ch.deleteQueue(source);
      await ch.deleteQueue(dead);
    }
  });

  it('expired messages are dead-lettered at their deadline, with reason expired, without any other traffic', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const source = sourceName('dl-ttl-src');
    const dead = deadName('dl-ttl-dead');
    await ch.assertQueue(dead, { exclusive: true });
    const inbox = await subscribe(ch, dead, { noAck: true });
    await ch.assertQueue(source, { exclusive: true, arguments: { 'x-message-ttl': 150, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    for (const body of numbered(10)) ch.publish('', source, Buffer.from(body), { priority: 3 });
    ch.publish('', source, Buffer.from('own'), { expiration: '50' }); // behind the others: expires at the head
    await ch.waitForConfirms();
    // nothing more is sent to either shard: the source shard wakes by itself
    const got = await inbox.waitFor(11, 3000);
    expect(bodies(got)).toEqual([...numbered(10), 'own']);
    for (const m of got) {
      expect(m.properties.priority).toBe(m.content.toString() === 'own' ? undefined : 3);
      expect((m.properties.headers as any)['x-death'][0]).toMatchObject({ count: 1, reason: 'expired', queue: source });
      expect((m.properties.headers as any)['x-first-death-reason']).toBe('expired');
    }
    expect((got[10].properties.headers as any)['x-death'][0]['original-expiration']).toBe('50');
  });

  it('length limits dead-letter with reason maxlen: dropped heads, and rejected publishes with reject-publish-dlx', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const dead = deadName('dl-len-dead');
    await ch.assertQueue(dead, { exclusive: true });
    const dropHead = sourceName('dl-drophead');
    const rejectDlx = sourceName('dl-rejectdlx');
    const rejectOnly = sourceName('dl-rejectonly');
    const common = { 'x-max-length': 3, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead };
    await ch.assertQueue(dropHead, { exclusive: true, arguments: common });
    await ch.assertQueue(rejectDlx, { exclusive: true, arguments: { ...common, 'x-overflow': 'reject-publish-dlx' } });
    await ch.assertQueue(rejectOnly, { exclusive: true, arguments: { ...common, 'x-overflow': 'reject-publish' } });
    for (const body of numbered(8, 'd')) ch.publish('', dropHead, Buffer.from(body));
    for (const body of numbered(8, 'r')) ch.publish('', rejectDlx, Buffer.from(body));
    for (const body of numbered(8, 'o')) ch.publish('', rejectOnly, Buffer.from(body));
    await ch.waitForConfirms().catch(() => {}); // the rejected ones are nacked
    const got = await collect(ch, dead, 10);
    const reasons = got.map((m) => `${m.content} ${(m.properties.headers as any)['x-death'][0].queue === dropHead ? 'head' : 'dlx'} ${(m.properties.headers as any)['x-death'][0].reason}`);
    expect(reasons.sort()).toEqual([...numbered(5, 'd').map((b) => `${b} head maxlen`), ...numbered(8, 'r').slice(3).map((b) => `${b} dlx maxlen`)].sort());
    expect(await drain(ch, dropHead)).toEqual(['d5', 'd6', 'd7']);
    expect(await drain(ch, rejectDlx)).toEqual(['r0', 'r1', 'r2']);
    expect(await drain(ch, rejectOnly)).toEqual(['o0', 'o1', 'o2']);
  });

  it('a DLX that does not exist drops the message; without a DLX nothing is dead-lettered', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const catchAll = uniq('dl-catch');
    const source = sourceName('dl-nodlx');
    await ch.assertQueue(catchAll, { exclusive: true });
    await ch.assertQueue(source, { exclusive: true, arguments: { 'x-dead-letter-exchange': uniq('missing') } });
    ch.publish('', source, Buffer.from('gone'));
    await ch.waitForConfirms();
    ch.reject((await ch.get(source, { noAck: false })) as GetMessage, false);
    await sleep(100);
    expect((await ch.checkQueue(source)).messageCount).toBe(0);
    expect(await drain(ch, catchAll)).toEqual([]);
    // the exchange declared later takes the next ones
    const dlx = uniq('late-dlx');
    const lateSource = sourceName('dl-late');
    await ch.assertExchange(dlx, 'fanout', { autoDelete: true });
    await ch.bindQueue(catchAll, dlx, '');
    await ch.assertQueue(lateSource, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx } });
    ch.publish('', lateSource, Buffer.from('caught'));
    await ch.waitForConfirms();
    ch.nack((await ch.get(lateSource, { noAck: false })) as GetMessage, false, false);
    expect(bodies(await collect(ch, catchAll, 1))).toEqual(['caught']);
  });

  it('an automatic cycle (expiry back into the same queue) ends after one round, as in RabbitMQ; a rejection does not', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const loop = uniq('dl-loop');
    await ch.assertQueue(loop, { exclusive: true, arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': loop } });
    ch.publish('', loop, Buffer.from('once'));
    await ch.waitForConfirms();
    await sleep(300);
    expect((await ch.checkQueue(loop)).messageCount).toBe(0);

    const rejects = uniq('dl-reject-loop');
    await ch.assertQueue(rejects, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': rejects } });
    ch.publish('', rejects, Buffer.from('again'));
    await ch.waitForConfirms();
    for (let i = 1; i <= 3; i++) {
      const m = (await ch.get(rejects, { noAck: false })) as GetMessage;
      expect(m.content.toString()).toBe('again');
      if (i > 1) expect((m.properties.headers as any)['x-death'][0].count).toBe(i - 1);
      ch.reject(m, false);
      await sleep(50);
    }
  });

  it('odd properties are dead-lettered too: a client-made x-death, a header key that is not UTF-8', async () => {
    const conn = await server.connect();
    const ch = await confirmChannel(conn);
    const source = sourceName('dl-odd-src');
    const dead = deadName('dl-odd-dead');
    await ch.assertQueue(dead, { exclusive: true });
    await ch.assertQueue(source, { arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
    ch.publish('', source, Buffer.from('m0'), { headers: { 'x-death': [{ count: 'many', queue: source, reason: 'rejected' }, 'junk'] } });
    ch.publish('', source, Buffer.from('m1'), { headers: { 'x-death': 'not an array', 'x-first-death-reason': 'mine' } });
    await ch.waitForConfirms();
    // a header key 'a\xff\xfeb', stored verbatim as RabbitMQ does
    const raw = await RawClient.open(Number(new URL(server.url).port));
    await raw.handshake();
    raw.send(method(1, 20, 10, shortstr('')));
    const opened = await raw.readFrame();
    expect([opened?.channel, opened?.classId, opened?.methodId]).toEqual([1, 20, 11]);
    raw.send(
      method(1, 60, 40, u16(0), shortstr(''), shortstr(source), u8(0)),
      frame(2, 1, Buffer.concat([u16(60), u16(0), u32(0), u32(2), Buffer.from('20000000000a0461fffe625300000000', 'hex')])),
      frame(3, 1, Buffer.from('m2')),
    );
    raw.send(method(1, 50, 10, u16(0), shortstr(source), u8(1), u32(0))); // passive declare: after the publish
    const declared = await raw.readFrame();
    expect([declared?.classId, declared?.methodId], declared?.payload.toString("latin1")).toEqual([50, 11]);
    raw.destroy();
    for (let i = 0; i < 3; i++) ch.reject((await ch.get(source, { noAck: false })) as GetMessage, false);
    const got = await collect(ch, dead, 3);
    expect(bodies(got)).toEqual(['m0', 'm1', 'm2']);
    expect((got[0].properties.headers as any)['x-death'][0]).toMatchObject({ count: 1, queue: source, reason: 'rejected' });
    expect((got[0].properties.headers as any)['x-death'][1]).toBe('junk');
    expect((got[1].properties.headers as any)['x-death']).toHaveLength(1);
    expect((got[1].properties.headers as any)['x-first-death-reason']).toBe('mine');
    // decoded to be rewritten, the key's bad bytes became U+FFFD
    expect(Object.keys(got[2].properties.headers as any)).toEqual(['a\ufffd\ufffdb', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason']);
    expect(await drain(ch, source)).toEqual([]);
    ch.publish('', source, Buffer.from('after'));
    await ch.waitForConfirms();
    expect(await drain(ch, source)).toEqual(['after']);
    await ch.deleteQueue(source);
  });

  it('a persistent message dead-lettered from a durable queue is acked there: a restart does not bring it back', async () => {
    const dataDir = tempDir();
    const source = sourceName('dl-durable-src');
    const dead = deadName('dl-durable-dead');
    let broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    try {
      const conn = await connect(broker.url);
      const ch = await confirmChannel(conn);
      await ch.assertQueue(dead, { durable: true });
      await ch.assertQueue(source, { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead } });
      for (const body of numbered(10)) ch.publish('', source, Buffer.from(body), { persistent: true });
      await ch.waitForConfirms();
      for (let i = 0; i < 10; i++) {
        const m = (await ch.get(source, { noAck: false })) as GetMessage;
        if (i < 6) ch.reject(m, false);
        else ch.nack(m, false, true); // back in the source queue
      }
      await sleep(200);
      await ch.checkQueue(source); // a round trip: the settles were read
      await conn.close();
    } finally {
      await broker.close();
    }
    broker = await startBroker({ port: 0, host: '127.0.0.1', workers, dataDir });
    try {
      const conn = await connect(broker.url);
      const ch = await confirmChannel(conn);
      expect(await drain(ch, source)).toEqual(numbered(10).slice(6));
      expect(await drain(ch, dead)).toEqual(numbered(6));
      await conn.close();
    } finally {
      await broker.close();
    }
  });
});
