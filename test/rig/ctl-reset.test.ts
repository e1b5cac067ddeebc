/** `warren ctl reset` (the CLI built in dist): every vhost, or one with -p; --keep-connections. */
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, nextEvent, reason, runWarren } from '../helpers.js';
import { managedBroker } from '../management/support.js';

const ctl = (args: string[]) => runWarren(['ctl', ...args]);

describe.each(MODES)('warren ctl reset ($name)', ({ workers }) => {
  const m = managedBroker(workers);
  const run = (...args: string[]) => ctl(['--url', `http://guest:guest@127.0.0.1:${m.broker.managementPort}`, ...args]);

  it('-p VHOST --keep-connections resets that vhost only, clients stay; plain reset closes them with 320', async () => {
    m.broker.broker.addVHost('other');
    m.broker.broker.setPermissions('guest', 'other', { configure: '.*', write: '.*', read: '.*' });
    const home = await connect(m.broker.url);
    const away = await connect(`${m.broker.url}/other`);
    const chHome = await channel(home);
    const chAway = await channel(away);
    await chHome.assertQueue('home-q');
    await chAway.assertQueue('away-q');

    const one = await run('-p', 'other', '--keep-connections', 'reset');
    expect(one).toMatchObject({ code: 0, stdout: "Resetting vhost 'other' ...\n" });
    await expect(chAway.checkQueue('away-q')).rejects.toThrow(/404/);
    expect((await chHome.checkQueue('home-q')).queue).toBe('home-q');

    const closed = nextEvent(home, 'close');
    expect(await run('reset')).toMatchObject({ code: 0, stdout: 'Resetting every vhost ...\n' });
    expect(reason(await closed).code).toBe(320);
    const again = await connect(m.broker.url);
    await expect((await channel(again)).checkQueue('home-q')).rejects.toThrow(/404/);
    await again.close();
    expect(await run('-p', 'missing', 'reset')).toMatchObject({ code: 69 });
  });
});

// rabbitmqctl's idiom between test runs: stop_app, reset, start_app (checked against RabbitMQ 3.10.8's lines and effects).
describe.each(MODES)('warren ctl stop_app, reset, start_app ($name)', ({ workers }) => {
  const m = managedBroker(workers);
  const run = (...args: string[]) => ctl(['--url', `http://guest:guest@127.0.0.1:${m.broker.managementPort}`, ...args]);

  it('stop_app closes clients with RabbitMQ\'s 320 and refuses new ones; reset then makes a new broker; start_app serves again', async () => {
    const b = m.broker.broker;
    b.addVHost('left-over');
    b.putUser('left-over-user', { password: 'p' });
    b.setUserLimits('guest', { maxChannels: 5 });
    await m.api('PUT', '/api/cluster-name', { name: 'left-over-cluster' });
    const clusterId = (await m.api('GET', '/api/global-parameters/internal_cluster_id')).body.value;
    const conn = await connect(m.broker.url);
    const ch = await channel(conn);
    await ch.assertQueue('durable-q', { durable: true });
    ch.sendToQueue('durable-q', Buffer.from('m'), { persistent: true });
    await ch.checkQueue('durable-q');
    const node = (await m.api('GET', '/api/overview')).body.node;

    const closed = nextEvent(conn, 'close');
    expect(await run('stop_app')).toMatchObject({ code: 0, stdout: `Stopping rabbit application on node ${node} ...\n` });
    const close = reason(await closed);
    expect(close).toEqual({ code: 320, text: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'" });
    await expect(connect(m.broker.url)).rejects.toThrow();
    expect((await m.api('GET', '/api/nodes')).body[0].running).toBe(false);

    expect(await run('reset')).toMatchObject({ code: 0, stdout: `Resetting node ${node} ...\n` });
    expect(await m.api('POST', '/api/warren/reset', { vhost: '/' })).toMatchObject({ status: 400 });
    expect(await run('start_app')).toMatchObject({ code: 0, stdout: `Starting node ${node} ...\n` });

    // A new broker's state: '/' only, guest only (no limits, full access to '/'), no queue.
    expect((await m.api('GET', '/api/vhosts')).body.map((v: any) => v.name)).toEqual(['/']);
    expect((await m.api('GET', '/api/users')).body.map((u: any) => [u.name, u.tags, u.limits])).toEqual([['guest', ['administrator'], {}]]);
    expect((await m.api('GET', '/api/nodes')).body[0].running).toBe(true);
    // global parameters too: the node's name again, a new internal_cluster_id
    expect((await m.api('GET', '/api/cluster-name')).body.name).toBe(node);
    expect((await m.api('GET', '/api/global-parameters')).body).toEqual([{ name: 'internal_cluster_id', value: expect.not.stringMatching(clusterId) }]);
    const fresh = await connect(m.broker.url);
    await expect((await channel(fresh)).checkQueue('durable-q')).rejects.toThrow(/404/);
    for (let i = 0; i < 6; i++) await fresh.createChannel();
    await fresh.close();
    // Running, reset is the rig's again.
    expect(await run('reset')).toMatchObject({ code: 0, stdout: 'Resetting every vhost ...\n' });
  });
});
