/**
 * Policies (/api/policies), as RabbitMQ 3.10.8 applies them (each behaviour
 * here checked beside it): the policy of highest priority whose pattern
 * matches a name applies; a queue's message-ttl, expires, max-length and
 * max-length-bytes are the lower of policy and x-argument, its overflow and
 * dead-letter settings the x-argument's where it has one; an exchange's
 * alternate likewise. A change applies at once to what exists (a lower
 * length limit drops heads there and then, dead-lettered where the queue
 * says); messages keep the expiry they came with. Every message is numbered
 * and where each one ends up is checked.
 */
import type { ChannelModel } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../../dist/src/index.js';
import { MODES, bodies, confirmChannel, connect, drain, eventually, sleep, subscribe, tempDirs, uniq } from '../helpers.js';
import { basic, managedBroker } from '../management/support.js';
import { cappedAcrossRestart, deadLetters, numbered, policyApi, publishAll } from './policy-support.js';

for (const mode of MODES) {
  describe(`policies (${mode.name})`, () => {
    const m = managedBroker(mode.workers);
    const open = async (): Promise<ChannelModel> => connect(m.broker.url);

    it('length limits: the lower of policy and argument, applied at once; heads dropped by a policy are dead-lettered where the policy says', async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      const limit = fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined });
      await fc.assert(
        fc.asyncProperty(
          limit,
          limit,
          fc.boolean(),
          fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 3, maxLength: 3 }),
          async (argLimit, policyLimit, policyDlx, [before, during, after]) => {
            const queue = uniq('pol-len');
            const dlq = uniq('pol-dlq');
            await ch.assertQueue(dlq, { exclusive: true });
            await ch.assertQueue(queue, { exclusive: true, arguments: argLimit === undefined ? {} : { 'x-max-length': argLimit } });
            const held: string[] = [];
            const dead: string[] = [];
            const trim = (limit: number | undefined, deadLetters: boolean) => {
              while (limit !== undefined && held.length > limit) {
                const dropped = held.shift()!;
                if (deadLetters) dead.push(dropped);
              }
            };
            const lower = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

            await publishAll(ch, queue, numbered('a', before));
            held.push(...numbered('a', before));
            trim(argLimit, false);

            const definition: Record<string, unknown> = { 'queue-mode': 'lazy' }; // a setting that changes nothing
            if (policyLimit !== undefined) definition['max-length'] = policyLimit;
            if (policyDlx) Object.assign(definition, { 'dead-letter-exchange': '', 'dead-letter-routing-key': dlq });
            await policies.set(queue, { pattern: `^${queue}$`, definition, 'apply-to': 'queues' });
            const withPolicy = lower(argLimit, policyLimit);
            trim(withPolicy, policyDlx);
            await publishAll(ch, queue, numbered('b', during));
            held.push(...numbered('b', during));
            trim(withPolicy, policyDlx);

            await policies.clear(queue);
            trim(argLimit, false);
            await publishAll(ch, queue, numbered('c', after));
            held.push(...numbered('c', after));
            trim(argLimit, false);

            expect((await ch.checkQueue(queue)).messageCount).toBe(held.length);
            expect(await drain(ch, queue)).toEqual(held);
            expect(await deadLetters(ch, dlq, dead.length)).toEqual(dead);
            await ch.deleteQueue(queue);
            await ch.deleteQueue(dlq);
          },
        ),
        { numRuns: 25 },
      );
      await conn.close();
    });

    it('a lower limit by policy trims at once if the queue dropped heads before or does from now on (RabbitMQ 3.10.8: only reject-publish to reject-publish keeps the surplus)', async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      for (const [before, after, kept] of [
        [undefined, 'reject-publish', ['m3']],
        ['reject-publish', 'drop-head', ['m3']],
        ['reject-publish', 'reject-publish', ['m0', 'm1', 'm2', 'm3']],
        ['drop-head', 'drop-head', ['m3']],
      ] as const) {
        const queue = uniq('pol-overflow');
        await ch.assertQueue(queue, { exclusive: true });
        const first = { 'max-length': 10, ...(before === undefined ? {} : { overflow: before }) };
        await policies.set(queue, { pattern: `^${queue}$`, definition: first });
        await publishAll(ch, queue, numbered('m', 4));
        await policies.set(queue, { pattern: `^${queue}$`, definition: { 'max-length': 1, overflow: after } });
        expect(await drain(ch, queue), `${before} -> ${after}`).toEqual(kept);
        await policies.clear(queue);
        await ch.deleteQueue(queue);
      }
      await conn.close();
    });

    it('message-ttl: messages that came before the policy keep no expiry; those after it expire, dead-lettered by the policy', async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.constantFrom(undefined, 20, 60_000), async (old, fresh, argTtl) => {
          const queue = uniq('pol-ttl');
          const dlq = uniq('pol-ttl-dlq');
          await ch.assertQueue(dlq, { exclusive: true });
          await ch.assertQueue(queue, { exclusive: true, arguments: argTtl === undefined ? {} : { 'x-message-ttl': argTtl } });
          await publishAll(ch, queue, numbered('old', old));
          // 20 ms by whichever is lower; with an argument of 20 ms the old ones expire too, dead-lettered by the policy that is there by then.
          await policies.set(queue, { pattern: `^${queue}$`, definition: { 'message-ttl': argTtl === 20 ? 60_000 : 20, 'dead-letter-exchange': '', 'dead-letter-routing-key': dlq } });
          await publishAll(ch, queue, numbered('new', fresh));
          await sleep(80);
          const kept = argTtl === 20 ? [] : numbered('old', old);
          // Messages expire at the head only: the old ones go first, then the new ones behind them are found expired.
          expect(await drain(ch, queue)).toEqual(kept);
          const dead = argTtl === 20 ? [...numbered('old', old), ...numbered('new', fresh)] : numbered('new', fresh);
          expect(await deadLetters(ch, dlq, dead.length)).toEqual(dead);
          await policies.clear(queue);
          await ch.deleteQueue(queue);
          await ch.deleteQueue(dlq);
        }),
        { numRuns: 12 },
      );
      await conn.close();
    });

    it('expires: an unused queue goes after the lower of policy and argument', async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      const prefix = uniq('pol-exp');
      await policies.set(prefix, { pattern: `^${prefix}`, definition: { expires: 150 } });
      await ch.assertQueue(`${prefix}-plain`, { durable: false });
      await ch.assertQueue(`${prefix}-longer-arg`, { durable: false, arguments: { 'x-expires': 600_000 } });
      await ch.assertQueue(`${prefix}-shorter-arg`, { durable: false, arguments: { 'x-expires': 100 } });
      await ch.assertQueue(`other-${prefix}`, { durable: false });
      const exists = async (name: string) => (await m.api('GET', `/api/queues/%2F/${encodeURIComponent(name)}`)).status === 200;
      await eventually(async () => {
        if ((await exists(`${prefix}-plain`)) || (await exists(`${prefix}-longer-arg`)) || (await exists(`${prefix}-shorter-arg`))) throw new Error('not expired yet');
      }, 3000);
      expect(await exists(`other-${prefix}`)).toBe(true);
      // The same policy put again changes nothing: the clock of an unused queue runs on.
      const again = `${prefix}-again`;
      await ch.assertQueue(again, { durable: false });
      const puts: Promise<void>[] = [];
      const putAgain = setInterval(() => puts.push(policies.set(prefix, { pattern: `^${prefix}`, definition: { expires: 150 } })), 40);
      try {
        await eventually(async () => {
          if (await exists(again)) throw new Error('not expired yet');
        }, 3000);
      } finally {
        clearInterval(putAgain);
        await Promise.all(puts);
      }
      await policies.clear(prefix);
      await ch.deleteQueue(`other-${prefix}`);
      await conn.close();
    });

    it("a quorum queue's delivery-limit: the lower of policy and argument; past it a message is dead-lettered by the policy", async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      for (const [argLimit, policyLimit] of [[undefined, 1], [3, 1], [1, 3]] as const) {
        const [queue, dlq] = [uniq('pol-quorum'), uniq('pol-quorum-dlq')];
        await ch.assertQueue(dlq, { exclusive: true });
        await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', ...(argLimit === undefined ? {} : { 'x-delivery-limit': argLimit }) } });
        await policies.set(queue, { pattern: `^${queue}$`, definition: { 'delivery-limit': policyLimit, 'dead-letter-exchange': '', 'dead-letter-routing-key': dlq } });
        await publishAll(ch, queue, ['q0']);
        const limit = Math.min(argLimit ?? Infinity, policyLimit);
        // Taken and returned limit + 1 times: the last return goes past the limit.
        for (let n = 0; n <= limit; n++) {
          const got = await ch.get(queue, { noAck: false });
          expect(got && got.content.toString(), `delivery ${n}`).toBe('q0');
          ch.nack(got as never, false, true);
        }
        expect(await deadLetters(ch, dlq, 1)).toEqual(['q0']);
        expect(await ch.get(queue, { noAck: true })).toBe(false);
        await policies.clear(queue);
        await ch.deleteQueue(queue);
      }
      await conn.close();
    });

    it("overflow: a classic queue's argument wins over the policy, a quorum queue's policy over the argument (RabbitMQ 3.10.8)", async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      const confirmed = async (queue: string, body: string): Promise<boolean> =>
        new Promise((resolve) => ch.sendToQueue(queue, Buffer.from(body), {}, (err) => resolve(err === null || err === undefined)));
      for (const type of ['classic', 'quorum']) {
        const queue = uniq(`pol-overflow-${type}`);
        await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type, 'x-max-length': 1, 'x-overflow': 'drop-head' } });
        await policies.set(queue, { pattern: `^${queue}$`, definition: { overflow: 'reject-publish' } });
        const taken = [await confirmed(queue, 'm1'), await confirmed(queue, 'm2'), await confirmed(queue, 'm3')];
        const head = await ch.get(queue, { noAck: true });
        // classic: drop-head keeps the newest; quorum: reject-publish takes the one that goes over, refuses the next
        expect({ taken, head: head && head.content.toString() }, type).toEqual(type === 'classic' ? { taken: [true, true, true], head: 'm3' } : { taken: [true, true, false], head: 'm1' });
        await policies.clear(queue);
        await ch.deleteQueue(queue);
      }
      await conn.close();
    });

    it('alternate-exchange: the argument first, else the policy; a cleared policy routes nowhere again', async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      const x = uniq('pol-x');
      const viaArg = uniq('pol-x-arg');
      const [ae, argAe] = [uniq('pol-ae'), uniq('pol-arg-ae')];
      const [aeQueue, argAeQueue] = [uniq('pol-ae-q'), uniq('pol-arg-ae-q')];
      for (const [exchange, queue] of [[ae, aeQueue], [argAe, argAeQueue]]) {
        await ch.assertExchange(exchange, 'fanout', { durable: false });
        await ch.assertQueue(queue, { exclusive: true });
        await ch.bindQueue(queue, exchange, '');
      }
      await ch.assertExchange(x, 'direct', { durable: false });
      await ch.assertExchange(viaArg, 'direct', { durable: false, alternateExchange: argAe });
      await policies.set(x, { pattern: `^pol-x`, definition: { 'alternate-exchange': ae }, 'apply-to': 'exchanges' });
      expect((await m.api('GET', `/api/exchanges/%2F/${x}`)).body.policy).toBe(x);
      const returned: string[] = [];
      ch.on('return', (msg) => returned.push(msg.content.toString()));
      const send = async (exchange: string, body: string) => {
        ch.publish(exchange, 'nowhere', Buffer.from(body), { mandatory: true });
        await ch.waitForConfirms();
      };
      await send(x, 'p1');
      await send(viaArg, 'a1');
      await policies.clear(x);
      await send(x, 'p2');
      expect(await drain(ch, aeQueue)).toEqual(['p1']);
      expect(await drain(ch, argAeQueue)).toEqual(['a1']);
      expect(await eventually(() => (returned.length < 1 ? Promise.reject(new Error('no return')) : returned))).toEqual(['p2']);
      await conn.close();
    });

    it('the policy of highest priority whose pattern matches and whose apply-to fits is the one shown on each queue and exchange', async () => {
      const vhost = uniq('pol-vhost');
      expect((await m.api('PUT', `/api/vhosts/${vhost}`)).status).toBe(201);
      const policies = policyApi(m, vhost);
      const names = ['a', 'ab', 'abc', 'b.c', 'bc', 'x'];
      const policy = fc.record({
        pattern: fc.constantFrom('^a', 'c$', '.*', 'b.c', '', '^x$', 'zz'),
        priority: fc.integer({ min: -2, max: 2 }),
        applyTo: fc.constantFrom('all', 'queues', 'exchanges'),
      });
      const conn = await connect(`${m.broker.url}/${encodeURIComponent(vhost)}`);
      const ch = await confirmChannel(conn);
      for (const name of names) {
        await ch.assertQueue(name, { durable: false });
        await ch.assertExchange(name, 'direct', { durable: false });
      }
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(fc.tuple(fc.constantFrom('p1', 'p2', 'p3', 'p4'), policy), { selector: ([n]) => n, maxLength: 4 }), async (set) => {
          const before = (await m.api('GET', `/api/policies/${encodeURIComponent(vhost)}`)).body as { name: string }[];
          for (const { name } of before) await policies.clear(name);
          for (const [name, p] of set) await policies.set(name, { pattern: p.pattern, priority: p.priority, 'apply-to': p.applyTo, definition: { 'max-length': 100 } });
          const expected = (kind: 'queues' | 'exchanges', name: string) => {
            const matching = set.filter(([, p]) => (p.applyTo === 'all' || p.applyTo === kind) && new RegExp(p.pattern).test(name));
            matching.sort(([na, a], [nb, b]) => b.priority - a.priority || (na < nb ? -1 : 1));
            return matching[0]?.[0];
          };
          const queues = (await m.api('GET', `/api/queues/${encodeURIComponent(vhost)}`)).body as { name: string; policy: string | null }[];
          expect(Object.fromEntries(queues.map((q) => [q.name, q.policy]))).toEqual(Object.fromEntries(names.map((n) => [n, expected('queues', n) ?? null])));
          for (const name of names) {
            expect((await m.api('GET', `/api/exchanges/${encodeURIComponent(vhost)}/${name}`)).body.policy).toBe(expected('exchanges', name));
          }
        }),
        { numRuns: 30 },
      );
      await conn.close();
      expect((await m.api('DELETE', `/api/vhosts/${vhost}`)).status).toBe(204);
    });

    it('a consumer on a queue whose policy comes and goes gets every message once, in order', async () => {
      const conn = await open();
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      for (const noAck of [true, false]) {
        const queue = uniq('pol-live');
        await ch.assertQueue(queue, { exclusive: true });
        const inbox = await subscribe(ch, queue, { noAck });
        const sent: string[] = [];
        for (const [step, change] of [
          ['a', () => policies.set(queue, { pattern: `^${queue}$`, definition: { 'max-length': 100_000, 'message-ttl': 600_000 } })],
          ['b', () => policies.clear(queue)],
          ['c', async () => {}],
        ] as const) {
          const batch = numbered(step, 200);
          for (const body of batch) ch.sendToQueue(queue, Buffer.from(body));
          sent.push(...batch);
          await change();
        }
        await ch.waitForConfirms();
        const got = await inbox.waitFor(sent.length);
        expect(bodies(got)).toEqual(sent);
        expect(got.every((msg) => !msg.fields.redelivered)).toBe(true);
        if (!noAck) for (const msg of got) ch.ack(msg);
        await sleep(50);
        expect(inbox.messages.length).toBe(sent.length);
      }
      await conn.close();
    });

    it('a test rig reset clears the policies of its vhost, and the default exchanges lose theirs', async () => {
      const vhost = uniq('pol-reset');
      expect((await m.api('PUT', `/api/vhosts/${vhost}`)).status).toBe(201);
      const policies = policyApi(m, vhost);
      await policies.set('ae', { pattern: '^amq\\.direct$', definition: { 'alternate-exchange': 'amq.fanout' }, 'apply-to': 'exchanges' });
      expect((await m.api('GET', `/api/exchanges/${vhost}/amq.direct`)).body.policy).toBe('ae');
      await m.broker.reset({ vhost });
      expect((await m.api('GET', `/api/policies/${vhost}`)).body).toEqual([]);
      expect((await m.api('GET', `/api/exchanges/${vhost}/amq.direct`)).body).not.toHaveProperty('policy');
      expect((await m.api('DELETE', `/api/vhosts/${vhost}`)).status).toBe(204);
    });

    it('refuses what RabbitMQ refuses, with its reasons', async () => {
      const put = (body: unknown) => m.api('PUT', '/api/policies/%2F/bad', body);
      const reason = async (body: unknown) => {
        const reply = await put(body);
        expect(reply.status).toBe(400);
        return reply.body.reason;
      };
      // Reasons as RabbitMQ 3.10.8 gave them (its Erlang terms HTML-escaped).
      expect(await reason({ pattern: '^a', definition: { 'message-ttl': -1 } })).toBe('Validation failed\n\n-1 is not a valid message TTL\n');
      expect(await reason({ pattern: '^a', definition: { 'max-length': 'x' } })).toBe('Validation failed\n\n&lt;&lt;"x"&gt;&gt; is not a valid maximum length\n');
      expect(await reason({ pattern: '^a', definition: { expires: 0 } })).toBe('Validation failed\n\n0 is not a valid queue expiry\n');
      expect(await reason({ pattern: '^a', definition: {} })).toBe('Validation failed\n\nno policy provided\n');
      expect(await reason({ pattern: '^a', definition: { 'max-priority': 5 } })).toBe('Validation failed\n\n[{&lt;&lt;"max-priority"&gt;&gt;,5}] are not recognised policy settings\n');
      expect(await reason({ pattern: '^a', definition: { 'ha-params': 2 } })).toBe(
        'Validation failed\n\nha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown\n',
      );
      expect(await reason({ pattern: 5, definition: { 'max-length': -5 }, priority: 'x', 'apply-to': 'y' })).toBe(
        "Validation failed\n\n-5 is not a valid maximum length\napply-to 'y' unrecognised; should be 'queues', 'exchanges' or 'all'\npattern should be a binary but was 5\npriority should be a number, actually was &lt;&lt;\"x\"&gt;&gt;\n",
      );
      expect(await reason({ definition: { 'max-length': 5 } })).toBe('[{key_missing,pattern}]');
      expect(await reason({ pattern: '(', definition: { 'max-length': 5 } })).toMatch(/^Validation failed\n\npattern should be regular expression but is invalid: /);
      expect((await m.api('PUT', '/api/policies/no-such-vhost/p', { pattern: '', definition: { 'max-length': 1 } })).body).toEqual({ error: 'not_found', reason: 'vhost_not_found' });
      expect((await m.api('DELETE', '/api/policies/%2F/no-such-policy')).status).toBe(404);
      expect((await m.api('GET', '/api/policies/%2F/bad')).status).toBe(404);
    });

    it('policymakers and administrators set policies; a management user only lists them', async () => {
      const policies = policyApi(m);
      const [manager, maker] = [uniq('pol-mgmt'), uniq('pol-maker')];
      for (const [user, tags] of [[manager, 'management'], [maker, 'policymaker']]) {
        expect((await m.api('PUT', `/api/users/${user}`, { password: 'pw', tags })).status).toBe(201);
        expect((await m.api('PUT', `/api/permissions/%2F/${user}`, { configure: '.*', write: '.*', read: '.*' })).status).toBe(201);
      }
      const body = { pattern: '^nothing$', definition: { 'max-length': 1 } };
      const as = (user: string) => ({ auth: basic(user, 'pw') });
      const name = uniq('pol-auth');
      expect(await m.api('PUT', `/api/policies/%2F/${name}`, body, as(manager))).toMatchObject({ status: 401, body: { reason: 'User not authorised to access object' } });
      expect((await m.api('PUT', `/api/policies/%2F/${name}`, body, as(maker))).status).toBe(201);
      const listed = (await m.api('GET', '/api/policies', undefined, as(manager))).body as { name: string }[];
      expect(listed.map((p) => p.name)).toContain(name);
      expect((await m.api('GET', `/api/policies/%2F/${name}`, undefined, as(manager))).status).toBe(401);
      expect((await m.api('DELETE', `/api/policies/%2F/${name}`, undefined, as(manager))).status).toBe(401);
      await policies.clear(name);
    });
  });
}

describe('policies are kept', () => {
  const dirs = tempDirs('warren-policies-');

  it('across a restart (the data dir) and in exported definitions, and a recovered queue is limited by its policy', async () => {
    const policy = { pattern: '^kept', definition: { 'max-length': 2, overflow: 'drop-head' }, priority: 1, 'apply-to': 'queues' };
    await cappedAcrossRestart(dirs(), '/api/policies', policy, async (get) => {
      expect(((await get('/api/definitions')) as { policies: unknown[] }).policies).toEqual([{ vhost: '/', name: 'cap', ...policy }]);
    });
  });

  it('imported from definitions before the queues they apply to', async () => {
    const broker = await startBroker({
      port: 0,
      host: '127.0.0.1',
      workers: 0,
      managementPort: 0,
      definitions: {
        policies: [{ vhost: '/', name: 'ttl', pattern: '^imported$', 'apply-to': 'queues', definition: { 'max-length': 1 }, priority: 0 }],
        queues: [{ name: 'imported', vhost: '/', durable: true, auto_delete: false, arguments: {} }],
      },
    });
    try {
      const conn = await connect(broker.url);
      const ch = await confirmChannel(conn);
      await publishAll(ch, 'imported', numbered('i', 4));
      expect(await drain(ch, 'imported')).toEqual(['i3']);
      await conn.close();
    } finally {
      await broker.close();
    }
  });
});
