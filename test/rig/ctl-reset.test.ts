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
    expect(await run('-p', 'missing', 'reset')).toMatchObject({ code: 1 });
  });
});
