/**
 * What RabbitMQ 3.10.8 answers to declares, binds, unbinds and deletes at the
 * edges of its rules: which check comes first when several fail, reserved
 * names on a redeclare, an unbind of what does not exist on another
 * connection's exclusive queue, an x-match of the wrong type. Each expected
 * text was taken from RabbitMQ 3.10.8 with the same calls.
 */
import { describe, expect, it } from 'vitest';
import { MODES, channel, eventually, refused, uniq, useBroker } from '../helpers.js';
import { lockedText as locked } from '../helpers.js';


describe.each(MODES)('topology answers as RabbitMQ 3.10.8: $name', ({ workers }) => {
  const server = useBroker(workers);

  it("a server-named queue is not declared again by its amq.gen name (403); a passive declare of '' finds no queue ''", async () => {
    const conn = await server.connect();
    const { queue } = await (await channel(conn)).assertQueue('', { durable: false });
    expect(await refused((await channel(conn)).assertQueue(queue, { durable: false }))).toEqual({ code: 403, text: `ACCESS_REFUSED - queue name '${queue}' contains reserved prefix 'amq.*'` });
    expect((await (await channel(conn)).checkQueue(queue)).queue).toBe(queue); // passive: found
    expect(await refused((await channel(conn)).checkQueue(''))).toEqual({ code: 404, text: "NOT_FOUND - no queue '' in vhost '/'" });
  });

  it("an alternate exchange on one side of a redeclare only: named with its type, the other side 'none'", async () => {
    const conn = await server.connect();
    const [withAe, without] = [uniq('ans-ae'), uniq('ans-noae')];
    await (await channel(conn)).assertExchange(withAe, 'direct', { durable: false, alternateExchange: 'ae' });
    await (await channel(conn)).assertExchange(without, 'direct', { durable: false });
    expect((await refused((await channel(conn)).assertExchange(withAe, 'direct', { durable: false }))).text).toBe(
      `PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '${withAe}' in vhost '/': received none but current is the value 'ae' of type 'longstr'`,
    );
    expect((await refused((await channel(conn)).assertExchange(without, 'direct', { durable: false, alternateExchange: 'ae' }))).text).toBe(
      `PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '${without}' in vhost '/': received the value 'ae' of type 'longstr' but current is none`,
    );
  });

  it("a bind names the missing source first, then checks its arguments, then the queue's owner; an unbind of what is not bound is fine on anyone's queue", async () => {
    const owner = await server.connect();
    const other = await server.connect();
    const { queue: exclusive } = await (await channel(owner)).assertQueue('', { exclusive: true });
    const [nq, nx] = [uniq('ans-nq'), uniq('ans-nx')];
    expect(await refused((await channel(other)).bindQueue(nq, nx, 'k'))).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${nx}' in vhost '/'` });
    expect(await refused((await channel(other)).bindExchange(uniq('ans-ndest'), nx, 'k'))).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${nx}' in vhost '/'` });
    expect(await refused((await channel(other)).bindQueue(exclusive, nx, 'k'))).toEqual({ code: 404, text: `NOT_FOUND - no exchange '${nx}' in vhost '/'` });
    expect(await refused((await channel(other)).bindQueue(exclusive, 'amq.headers', '', { 'x-match': 'bogus' }))).toEqual({
      code: 406,
      text: 'PRECONDITION_FAILED - Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x',
    });
    expect(await refused((await channel(other)).bindQueue(exclusive, 'amq.direct', 'k'))).toEqual({ code: 405, text: locked(exclusive) });
    await (await channel(other)).unbindQueue(exclusive, 'amq.direct', 'never-bound');
    // bound by its owner: now the unbind is the owner's to make
    await (await channel(owner)).bindQueue(exclusive, 'amq.direct', 'bound');
    expect(await refused((await channel(other)).unbindQueue(exclusive, 'amq.direct', 'bound'))).toEqual({ code: 405, text: locked(exclusive) });
  });

  it("an x-match sent as binary is refused, named as RabbitMQ prints a binary", async () => {
    const conn = await server.connect();
    const { queue } = await (await channel(conn)).assertQueue('', { exclusive: true });
    expect(await refused((await channel(conn)).bindQueue(queue, 'amq.headers', '', { 'x-match': Buffer.from('any'), a: 1 }))).toEqual({
      code: 406,
      text: 'PRECONDITION_FAILED - Invalid x-match field type binary (value <<"any">>); expected longstr',
    });
  });

  it('a delete with if-unused and if-empty, of a queue both used and not empty: not empty', async () => {
    const conn = await server.connect();
    const ch = await channel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const consumer = await channel(conn);
    await consumer.prefetch(1);
    await consumer.consume(queue, () => {}, { noAck: false });
    ch.sendToQueue(queue, Buffer.from('m1'));
    ch.sendToQueue(queue, Buffer.from('m2')); // waits: the consumer holds m1
    await eventually(async () => expect((await ch.checkQueue(queue)).messageCount).toBe(1));
    expect(await refused((await channel(conn)).deleteQueue(queue, { ifUnused: true, ifEmpty: true }))).toEqual({ code: 406, text: `PRECONDITION_FAILED - queue '${queue}' in vhost '/' not empty` });
  });
});
