/**
 * Operator policies (/api/operator-policies), as RabbitMQ 3.10.8 has them
 * (each behaviour here checked beside it): an administrator's caps on
 * expires, message-ttl, max-length, max-length-bytes, the in-memory limits and
 * delivery-limit, matched as policies are; where a policy, an operator policy
 * and an x-argument set the same limit, the lowest applies. Every message is
 * numbered and where each one ends up is checked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODES, confirmChannel, connect, drain, tempDirs, uniq } from '../helpers.js';
import { basic, managedBroker } from '../management/support.js';
import { cappedAcrossRestart, numbered, policyApi, publishAll } from './policy-support.js';

const lowest = (...limits: (number | undefined)[]) => {
  const set = limits.filter((l): l is number => l !== undefined);
  return set.length === 0 ? undefined : Math.min(...set);
};

for (const mode of MODES) {
  describe(`operator policies (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('max-length: the lowest of argument, policy and operator policy, applied at once and lifted when cleared', async () => {
      const conn = await connect(m.broker.url);
      const ch = await confirmChannel(conn);
      const policies = policyApi(m);
      const operator = policyApi(m, '/', '/api/operator-policies');
      const limit = fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined });
      await fc.assert(
        fc.asyncProperty(limit, limit, limit, fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 3, maxLength: 3 }), async (argLimit, policyLimit, operatorLimit, [before, during, after]) => {
          const queue = uniq('op-len');
          await ch.assertQueue(queue, { exclusive: true, arguments: argLimit === undefined ? {} : { 'x-max-length': argLimit } });
          const held: string[] = [];
          const trim = (limit: number | undefined) => held.splice(0, limit === undefined ? 0 : Math.max(0, held.length - limit));
          const publish = async (prefix: string, n: number, limit: number | undefined) => {
            await publishAll(ch, queue, numbered(prefix, n));
            held.push(...numbered(prefix, n));
            trim(limit);
          };

          await publish('a', before, argLimit);
          if (policyLimit !== undefined) await policies.set(queue, { pattern: `^${queue}$`, definition: { 'max-length': policyLimit }, 'apply-to': 'queues' });
          // A setting the operator policy does not cap, so it always has one.
          await operator.set(queue, { pattern: `^${queue}$`, definition: operatorLimit === undefined ? { expires: 3_600_000 } : { 'max-length': operatorLimit } });
          const all = lowest(argLimit, policyLimit, operatorLimit);
          trim(all);
          await publish('b', during, all);
          const shown = (await m.api('GET', `/api/queues/%2F/${queue}`)).body;
          expect(shown.operator_policy).toBe(queue);
          expect(shown.effective_policy_definition['max-length']).toBe(lowest(policyLimit, operatorLimit));

          await operator.clear(queue);
          const withoutOperator = lowest(argLimit, policyLimit);
          trim(withoutOperator);
          await publish('c', after, withoutOperator);
          expect((await m.api('GET', `/api/queues/%2F/${queue}`)).body.operator_policy).toBeNull();

          expect((await ch.checkQueue(queue)).messageCount).toBe(held.length);
          expect(await drain(ch, queue)).toEqual(held);
          await ch.deleteQueue(queue);
          if (policyLimit !== undefined) await policies.clear(queue);
        }),
        { numRuns: 25 },
      );
      await conn.close();
    });

    it('message-ttl caps what a policy allows: the lower applies to messages that come after it', async () => {
      const conn = await connect(m.broker.url);
      const ch = await confirmChannel(conn);
      const queue = uniq('op-ttl');
      await policyApi(m).set(queue, { pattern: `^${queue}$`, definition: { 'message-ttl': 60_000, overflow: 'reject-publish' } });
      await policyApi(m, '/', '/api/operator-policies').set(queue, { pattern: `^${queue}$`, definition: { 'message-ttl': 0 }, priority: 3 });
      await ch.assertQueue(queue, { exclusive: true });
      const shown = (await m.api('GET', `/api/queues/%2F/${queue}`)).body;
      // RabbitMQ 3.10.8's answer: both definitions, the lower TTL, keys in order.
      expect(JSON.stringify(shown.effective_policy_definition)).toBe('{"message-ttl":0,"overflow":"reject-publish"}');
      expect([shown.policy, shown.operator_policy]).toEqual([queue, queue]);
      await publishAll(ch, queue, numbered('m', 5));
      expect(await drain(ch, queue)).toEqual([]);
      await policyApi(m, '/', '/api/operator-policies').clear(queue);
      await publishAll(ch, queue, numbered('n', 3));
      expect(await drain(ch, queue)).toEqual(numbered('n', 3));
      await policyApi(m).clear(queue);
      await conn.close();
    });

    it('refuses every setting but the limits, with RabbitMQ 3.10.8\'s reasons (not HTML-escaped, as it sends them)', async () => {
      const reason = async (body: unknown) => {
        const reply = await m.api('PUT', '/api/operator-policies/%2F/bad', body);
        expect(reply.status).toBe(400);
        return reply.body.reason;
      };
      expect(await reason({ pattern: '^a', definition: { overflow: 'drop-head' } })).toBe('Validation failed\n\n[{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings\n');
      expect(await reason({ pattern: '^a', definition: { 'ha-mode': 'all', x: '<b>' } })).toBe(
        'Validation failed\n\n[{<<"ha-mode">>,<<"all">>},{<<"x">>,<<"<b>">>}] are not recognised policy settings\n',
      );
      expect(await reason({ pattern: '^a', definition: { foo: 1, 'max-length': -1 } })).toBe('Validation failed\n\n-1 is not a valid maximum length\n');
      expect(await reason({ pattern: '^a', definition: { 'message-ttl': 'a' } })).toBe('Validation failed\n\n<<"a">> is not a valid message TTL\n');
      expect(await reason({ pattern: '^a', definition: {} })).toBe('Validation failed\n\nno policy provided\n');
      expect(await reason({ pattern: '^a', definition: { 'max-length': 1 }, 'apply-to': 'bad' })).toBe(
        "Validation failed\n\napply-to 'bad' unrecognised; should be 'queues', 'exchanges' or 'all'\n",
      );
      expect(await reason({ definition: { 'max-length': 1 } })).toBe('[{key_missing,pattern}]');
      const all = { expires: 1000, 'message-ttl': 1, 'max-length': 1, 'max-length-bytes': 1, 'max-in-memory-length': 1, 'max-in-memory-bytes': 1, 'delivery-limit': 1 };
      expect((await m.api('PUT', '/api/operator-policies/%2F/every-limit', { pattern: '^nothing$', definition: all })).status).toBe(201);
      expect((await m.api('GET', '/api/operator-policies/%2F/every-limit')).body.definition).toEqual(all);
      expect((await m.api('DELETE', '/api/operator-policies/%2F/every-limit')).status).toBe(204);
      expect((await m.api('PUT', '/api/operator-policies/no-such-vhost/p', { pattern: '', definition: { 'max-length': 1 } })).body).toEqual({ error: 'not_found', reason: 'vhost_not_found' });
      expect((await m.api('DELETE', '/api/operator-policies/%2F/no-such-policy')).status).toBe(404);
      expect((await m.api('GET', '/api/operator-policies/%2F/bad')).status).toBe(404);
    });

    it('only administrators set, read and clear them; every management user lists them', async () => {
      const name = uniq('op-auth');
      const body = { pattern: '^nothing$', definition: { 'max-length': 1 } };
      const users = [uniq('op-maker'), uniq('op-monitor')];
      for (const [user, tags] of [[users[0], 'policymaker'], [users[1], 'monitoring']]) {
        expect((await m.api('PUT', `/api/users/${user}`, { password: 'pw', tags })).status).toBe(201);
        expect((await m.api('PUT', `/api/permissions/%2F/${user}`, { configure: '.*', write: '.*', read: '.*' })).status).toBe(201);
      }
      expect((await m.api('PUT', `/api/operator-policies/%2F/${name}`, body)).status).toBe(201);
      for (const user of users) {
        const as = { auth: basic(user, 'pw') };
        const refused = { status: 401, body: { error: 'not_authorised', reason: 'Not administrator user' } };
        expect(await m.api('PUT', `/api/operator-policies/%2F/${name}`, body, as)).toMatchObject(refused);
        expect(await m.api('GET', `/api/operator-policies/%2F/${name}`, undefined, as)).toMatchObject(refused);
        expect(await m.api('DELETE', `/api/operator-policies/%2F/${name}`, undefined, as)).toMatchObject(refused);
        const listed = (await m.api('GET', '/api/operator-policies/%2F', undefined, as)).body as { name: string }[];
        expect(listed.map((p) => p.name)).toContain(name);
      }
      expect((await m.api('DELETE', `/api/operator-policies/%2F/${name}`)).status).toBe(204);
    });

    it('a test rig reset clears them', async () => {
      const vhost = uniq('op-reset');
      expect((await m.api('PUT', `/api/vhosts/${vhost}`)).status).toBe(201);
      await policyApi(m, vhost, '/api/operator-policies').set('cap', { pattern: '', definition: { 'max-length': 1 } });
      await m.broker.reset({ vhost });
      expect((await m.api('GET', `/api/operator-policies/${vhost}`)).body).toEqual([]);
      expect((await m.api('DELETE', `/api/vhosts/${vhost}`)).status).toBe(204);
    });
  });
}

describe('operator policies are kept', () => {
  const dirs = tempDirs('warren-operator-policies-');

  it('across a restart (the data dir), and left out of exported definitions as RabbitMQ leaves them', async () => {
    const policy = { pattern: '^kept', definition: { 'max-length': 2 }, priority: 1, 'apply-to': 'queues' };
    await cappedAcrossRestart(dirs(), '/api/operator-policies', policy, async (get) => {
      expect(await get('/api/operator-policies')).toEqual([{ vhost: '/', name: 'cap', ...policy }]);
      expect(await get('/api/definitions')).not.toHaveProperty('operator_policies');
    });
  });
});
