"""
aio-pika 8 (on aiormq, Debian's python3-aio-pika) against a broker:
  python3 aio_pika_client.py URL PREFIX SCENARIO
Prints one line per check; the expected lines are what RabbitMQ 3.10.8 printed.
In `robust` it prints `ready`, and goes on when a line comes on stdin (the test
closes its connection in between).
"""
import asyncio
import sys

import aio_pika
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.exceptions import ChannelNotFoundEntity, DeliveryError
from aiormq.exceptions import ChannelLockedResource
from aio_pika.patterns import RPC

URL, PREFIX = sys.argv[1], sys.argv[2]


def say(*words):
    print(*words, flush=True)


async def confirm_consume(conn):
    """2,000 numbered persistent publishes, confirmed, through a topic exchange into a priority queue."""
    ch = await conn.channel()
    await ch.set_qos(prefetch_count=50)
    ex = await ch.declare_exchange(f'{PREFIX}.topic', ExchangeType.TOPIC, auto_delete=True)
    q = await ch.declare_queue(f'{PREFIX}.q', auto_delete=True, arguments={'x-max-priority': 10})
    await q.bind(ex, routing_key='a.#')
    n = 2000
    await asyncio.gather(*[ex.publish(Message(str(i).encode(), priority=i % 10, headers={'n': i, 'ü': 'é€'}, delivery_mode=DeliveryMode.PERSISTENT),
                                      routing_key=f'a.b.{i % 7}') for i in range(n)])
    seen = []
    headers_ok = True
    async with q.iterator() as it:
        async for m in it:
            async with m.process():
                seen.append(int(m.body))
                headers_ok = headers_ok and m.headers == {'n': int(m.body), 'ü': 'é€'} and m.priority == int(m.body) % 10
            if len(seen) == n:
                break
    say('each once', sorted(seen) == list(range(n)), 'headers', headers_ok)
    say('priority order', [int(b) % 10 for b in seen[:3]], [int(b) % 10 for b in seen[-3:]])


async def lifecycle(conn):
    """A mandatory publish that no queue takes comes back; messages past their TTL are dead-lettered."""
    ch = await conn.channel(on_return_raises=True)
    try:
        await ch.default_exchange.publish(Message(b'lost'), routing_key=f'{PREFIX}.nowhere', mandatory=True)
        say('mandatory', 'confirmed')
    except DeliveryError as e:
        say('mandatory', 'returned', e.message.body.decode())
    dlx = await ch.declare_exchange(f'{PREFIX}.dlx', ExchangeType.FANOUT, auto_delete=True)
    dead = await ch.declare_queue(f'{PREFIX}.dead', auto_delete=True)
    await dead.bind(dlx)
    ttl = await ch.declare_queue(f'{PREFIX}.ttl', auto_delete=True, arguments={'x-message-ttl': 100, 'x-dead-letter-exchange': dlx.name})
    for i in range(5):
        await ch.default_exchange.publish(Message(f'd{i}'.encode()), routing_key=ttl.name)
    got = []
    for _ in range(100):
        m = await dead.get(fail=False, no_ack=True)
        if m is not None:
            death = m.headers['x-death'][0]
            got.append(f"{m.body.decode()}:{death['reason']}:{death['count']}:{death['queue'].replace(PREFIX, 'PREFIX')}")
        elif len(got) == 5:
            break
        else:
            await asyncio.sleep(0.05)
    say('dead-lettered', ' '.join(got))


async def rpc(conn):
    """aio-pika's RPC pattern: 100 concurrent calls, each answer to its caller."""
    ch = await conn.channel()
    server = await RPC.create(ch)

    async def mul(*, x, y):
        return x * y

    await server.register(f'{PREFIX}.mul', mul, auto_delete=True)
    answers = await asyncio.gather(*[server.call(f'{PREFIX}.mul', kwargs={'x': i, 'y': 3}) for i in range(100)])
    say('rpc', answers == [3 * i for i in range(100)])
    await server.close()


async def errors(conn):
    """Channel errors as exceptions, the connection going on."""
    ch = await conn.channel()
    try:
        await ch.declare_queue(f'{PREFIX}.missing', passive=True)
    except ChannelNotFoundEntity as e:
        say('passive', e.args[0].replace(PREFIX, 'PREFIX'))
    owner = await conn.channel()
    q = await owner.declare_queue(f'{PREFIX}.mine', exclusive=True)
    other = await aio_pika.connect(URL)
    async with other:
        try:
            await (await other.channel()).declare_queue(q.name, exclusive=True)
        except ChannelLockedResource as e:
            say('exclusive', e.args[0].replace(PREFIX, 'PREFIX'))
    again = await conn.channel()
    say('after', (await again.declare_queue(q.name, passive=True)).declaration_result.message_count)


async def tx(conn):
    """A rollback drops what the transaction published, a commit delivers it."""
    ch = await conn.channel(publisher_confirms=False)
    q = await ch.declare_queue(f'{PREFIX}.tx', auto_delete=True)
    t = ch.transaction()
    await t.select()
    for _ in range(3):
        await ch.default_exchange.publish(Message(b'no'), routing_key=q.name)
    await t.rollback()
    for _ in range(4):
        await ch.default_exchange.publish(Message(b'yes'), routing_key=q.name)
    await t.commit()
    say('committed', (await ch.declare_queue(q.name, passive=True)).declaration_result.message_count)


async def robust(conn):
    """A robust connection closed by the broker comes back, redeclares, and its consumer misses nothing."""
    reconnected = asyncio.Event()
    conn.reconnect_callbacks.add(lambda *_: reconnected.set())
    ch = await conn.channel()
    q = await ch.declare_queue(f'{PREFIX}.robust', durable=True)
    seen = {}

    async def on_message(m):
        async with m.process(ignore_processed=True):
            seen[int(m.body)] = seen.get(int(m.body), 0) + 1

    await q.consume(on_message)
    pub = await conn.channel()
    n = 600
    for i in range(n):
        if i == n // 2:
            say('ready')
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            await asyncio.wait_for(reconnected.wait(), 10)
        while True:
            try:
                await pub.default_exchange.publish(Message(str(i).encode(), delivery_mode=DeliveryMode.PERSISTENT), routing_key=q.name, timeout=5)
                break
            except (aio_pika.exceptions.AMQPError, asyncio.TimeoutError, ConnectionError):
                await asyncio.sleep(0.05)  # closed under the publish: send it again once reconnected
    for _ in range(200):
        if len(seen) == n:
            break
        await asyncio.sleep(0.05)
    say('reconnected', reconnected.is_set(), 'each at least once', sorted(seen) == list(range(n)))
    await q.delete(if_unused=False, if_empty=False)


async def main(scenario):
    # named for the test's closeConnections (aiormq takes the name from the URL)
    conn = await aio_pika.connect_robust(f'{URL}?name={PREFIX}', reconnect_interval=0.2)
    async with conn:
        await scenario(conn)


asyncio.run(main({'confirm-consume': confirm_consume, 'lifecycle': lifecycle, 'rpc': rpc, 'errors': errors, 'tx': tx, 'robust': robust}[sys.argv[3]]))
