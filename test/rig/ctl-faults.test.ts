/**
 * `warren ctl fault ...` (the CLI built in dist) against a broker with the
 * management API: each fault seen by a real amqplib client, scoped by its
 * filter, undone by its counterpart; usage errors exit 64, refusals 69 (rabbitmqctl's codes).
 */
import amqp, { type ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { MODES, channel, confirmChannel, nextEvent, queueExists, reason, runWarren, sleep } from '../helpers.js';
import { managedBroker } from '../management/support.js';

describe.each(MODES)('warren ctl fault ($name)', ({ workers }) => {
  const m = managedBroker(workers);
  const run = (...args: string[]) => runWarren(['ctl', '--url', `http://guest:guest@127.0.0.1:${m.broker.managementPort}`, 'fault', ...args]);
  const opened: ChannelModel[] = [];
  const named = async (name: string): Promise<ChannelModel> => {
    const conn = await amqp.connect(m.broker.url, { clientProperties: { connection_name: name } });
    conn.on('error', () => {});
    opened.push(conn);
    return conn;
  };
  afterEach(async () => {
    m.broker.faults.acceptConnections();
    await Promise.all(opened.splice(0).map((conn) => conn.close().catch(() => {})));
    await m.broker.reset();
  });

  it('close-connections with a filter, code and text; block/unblock-publishers; --formatter json', async () => {
    const victim = await named('victim');
    const bystander = await named('bystander');
    const closed = nextEvent(victim, 'close');
    const closing = await run('close-connections', '--name', 'victim', '--code', '541', '--text', 'crash');
    expect(closing).toMatchObject({ code: 0, stdout: "Closing the connections of name 'victim' ...\n1 connection closed\n" });
    expect(reason(await closed)).toEqual({ code: 541, text: 'INTERNAL_ERROR - crash' });

    const blocked = nextEvent<string>(bystander, 'blocked');
    expect(await run('block-publishers', '--user', 'guest', '-p', '/')).toMatchObject({ code: 0, stdout: "Blocking the connections of user 'guest', vhost '/' ...\n1 connection blocked\n" });
    expect(await blocked).toBe('blocked by a test fault');
    const unblocked = nextEvent(bystander, 'unblocked');
    expect((await run('unblock-publishers')).stdout).toBe('Unblocking every connection ...\n1 connection unblocked\n');
    await unblocked;

    expect(await run('--formatter', 'json', 'close-connections', '--name', 'nobody')).toMatchObject({ code: 0, stdout: '{"closed":0}\n' });
  });

  it('refuse/accept-connections, stall/unstall, delay/undelay-deliveries', async () => {
    expect(await run('refuse-connections', '--for', '60000')).toMatchObject({ code: 0, stdout: 'Refusing new connections for 60000 ms ...\n' });
    await expect(amqp.connect(m.broker.url)).rejects.toThrow();
    expect((await run('accept-connections')).code).toBe(0);
    const slow = await named('slow');
    const ch = await channel(slow);
    await ch.assertQueue('ctl-q', { durable: false });

    expect((await run('stall', '--name', 'slow')).stdout).toBe("Stalling the connections of name 'slow' ...\n1 connection stalled\n");
    let answered = false;
    const check = ch.checkQueue('ctl-q').then(() => (answered = true));
    await sleep(300);
    expect(answered).toBe(false);
    expect((await run('unstall', '--name', 'slow')).stdout).toContain('1 connection unstalled');
    await check;

    expect((await run('delay-deliveries', '--name', 'slow', '--ms', '400')).stdout).toContain('1 connection delayed');
    let began = Date.now();
    await ch.checkQueue('ctl-q');
    expect(Date.now() - began).toBeGreaterThanOrEqual(350);
    expect((await run('undelay-deliveries', '--name', 'slow')).stdout).toContain('1 connection undelayed');
    began = Date.now();
    await ch.checkQueue('ctl-q');
    expect(Date.now() - began).toBeLessThan(350);
  });

  it('cancel-consumers --queue, restart --down-ms, and usage errors', async () => {
    const conn = await named('consumer');
    const ch = await confirmChannel(conn);
    await ch.assertQueue('ctl-consumed', { durable: true });
    await ch.assertQueue('ctl-transient', { durable: false });
    const cancelled = new Promise<null>((resolve) => void ch.consume('ctl-consumed', (msg) => msg === null && resolve(null)));
    await m.broker.waitFor.queue('ctl-consumed', { consumers: 1 });
    expect(await run('cancel-consumers', '--queue', 'ctl-consumed')).toMatchObject({
      code: 0,
      stdout: "Cancelling the consumers of queue 'ctl-consumed' in vhost '/' ...\n1 consumer cancelled\n",
    });
    await cancelled;
    ch.sendToQueue('ctl-consumed', Buffer.from('kept'), { persistent: true });
    ch.sendToQueue('ctl-consumed', Buffer.from('lost'), { persistent: false });
    await ch.waitForConfirms();

    const closed = nextEvent(conn, 'close');
    const restarting = run('restart', '--down-ms', '600');
    expect(reason(await closed).code).toBe(320);
    await expect(amqp.connect(m.broker.url)).rejects.toThrow();
    expect(await restarting).toMatchObject({ code: 0, stdout: 'Restarting (down for 600 ms) ...\n' });
    const after = await named('after');
    expect((await (await channel(after)).checkQueue('ctl-consumed')).messageCount).toBe(1);
    expect(await queueExists(after, 'ctl-transient')).toBe(false);

    expect(await run('delay-deliveries', '--name', 'x')).toMatchObject({ code: 64, stderr: expect.stringContaining('fault delay-deliveries needs --ms') });
    expect(await run('restart', '--down-ms', 'soon')).toMatchObject({ code: 64, stderr: expect.stringContaining("--down-ms must be a whole number, got 'soon'") });
    expect(await run('stall', '--queue', 'q')).toMatchObject({ code: 64, stderr: expect.stringContaining('fault stall does not take --queue') });
    expect(await run('explode')).toMatchObject({ code: 64, stderr: expect.stringContaining("unknown fault 'explode'") });
    expect(await run('cancel-consumers', '--queue', 'missing')).toMatchObject({ code: 69, stderr: "warren ctl: queue 'missing' in vhost '/' not found\n" });
    expect(await run('close-connections', '--code', '42')).toMatchObject({ code: 69, stderr: expect.stringContaining('400') });
  });
});
