"""Scenarios for warren run with pika (python3-pika), one per invocation.

usage: pika_client.py URL SCENARIO PREFIX [ARGS...]
Prints one line per observation; the test asserts on stdout. Names are
prefixed with PREFIX so that runs do not share queues or exchanges.
"""
import sys

import pika

url, scenario, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]

params = pika.URLParameters(url)
# Named, so a test can aim a fault at this connection (faults filter on connection_name).
params.client_properties = {"connection_name": prefix}
conn = pika.BlockingConnection(params)
ch = conn.channel()


def out(*parts):
    print(*parts, flush=True)


def drain(queue, until):
    """Consumes (no-ack) until a body equal to `until` arrives; yields the others."""
    for method, props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=5):
        if method is None:
            raise SystemExit("timed out waiting for " + until)
        if body.decode() == until:
            break
        yield method, body.decode()
    ch.cancel()


if scenario == "fanout":
    # one fanout exchange, two queues, both get Hello and World
    ex = prefix + ".fanout"
    ch.exchange_declare(ex, exchange_type="fanout", auto_delete=True)
    queues = []
    for i in (1, 2):
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, ex)
        queues.append(q)
    for body in ("Hello", "World", "END"):
        ch.basic_publish(ex, "", body.encode())
    for i, q in enumerate(queues, 1):
        for _, body in drain(q, "END"):
            out("q%d %s" % (i, body))

elif scenario == "topic":
    # *.stock.# matches usd.stock and eur.stock.db, not stock.nasdaq
    ex = prefix + ".topic"
    ch.exchange_declare(ex, exchange_type="topic", auto_delete=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, ex, routing_key="*.stock.#")
    for key in ("usd.stock", "eur.stock.db", "stock.nasdaq", "end.stock.end"):
        ch.basic_publish(ex, key, key.encode())
    for method, body in drain(q, "end.stock.end"):
        out("got", method.routing_key)

elif scenario == "ack":
    # a consumer that acks each message; nothing is left or redelivered
    q = prefix + ".ack"
    ch.queue_declare(q, auto_delete=False)
    for i in range(3):
        ch.basic_publish("", q, ("m%d" % i).encode())
    ch.basic_qos(prefetch_count=1)
    n = 0
    for method, props, body in ch.consume(q, inactivity_timeout=5):
        if method is None:
            raise SystemExit("timed out")
        out("got", body.decode(), "redelivered=%s" % method.redelivered)
        ch.basic_ack(method.delivery_tag)
        n += 1
        if n == 3:
            break
    ch.cancel()
    ch.close()
    ch = conn.channel()
    out("remaining", ch.queue_declare(q, passive=True).method.message_count)
    ch.queue_delete(q)

elif scenario == "get":
    # basic.get polling until the queue is empty
    q = prefix + ".get"
    ch.queue_declare(q, auto_delete=False)
    for i in range(3):
        ch.basic_publish("", q, ("g%d" % i).encode())
    while True:
        method, props, body = ch.basic_get(q)
        if method is None:
            out("empty")
            break
        out("got", body.decode(), "left=%d" % method.message_count)
        ch.basic_ack(method.delivery_tag)
    ch.queue_delete(q)

elif scenario == "confirms":
    # publisher confirms: basic_publish raises if the broker nacks
    q = prefix + ".confirms"
    ch.queue_declare(q, auto_delete=False)
    ch.confirm_delivery()
    for i in range(20):
        ch.basic_publish("", q, ("c%d" % i).encode())
    out("confirmed", 20)
    out("count", ch.queue_declare(q, passive=True).method.message_count)
    ch.queue_delete(q)

elif scenario == "return":
    # a mandatory publish with no route comes back through on_return
    returned = []
    ch.add_on_return_callback(lambda _ch, method, props, body: returned.append((method, body)))
    ch.basic_publish("", prefix + ".nowhere", b"lost", mandatory=True)
    for _ in range(50):
        if returned:
            break
        conn.process_data_events(time_limit=0.1)
    method, body = returned[0]
    out("returned", method.reply_code, method.reply_text, method.routing_key, body.decode())

elif scenario == "return-confirm":
    # with confirms on, an unroutable mandatory publish raises UnroutableError
    ch.confirm_delivery()
    try:
        ch.basic_publish("", prefix + ".nowhere", b"lost", mandatory=True)
        out("not returned")
    except pika.exceptions.UnroutableError as e:
        out("unroutable", len(e.messages), e.messages[0].body.decode())

elif scenario == "publish":
    # publish ARGS[1:] to queue ARGS[0] through the default exchange
    ch.confirm_delivery()
    for body in args[1:]:
        ch.basic_publish("", args[0], body.encode(), pika.BasicProperties(content_type="text/plain"))
    out("published", len(args) - 1)

elif scenario == "tenant":
    # logged in as a non-default user on a non-default vhost: a round trip in
    # its own queue, then a declare its permissions refuse (403)
    q = prefix + ".mine"
    ch.queue_declare(q, auto_delete=True)
    for i in range(5):
        ch.basic_publish("", q, ("t%d" % i).encode())
    got = []
    while len(got) < 5:
        method, props, body = ch.basic_get(q, auto_ack=True)
        if method is not None:
            got.append(body.decode())
    out("got", *got)
    try:
        ch.queue_declare("not-mine")
        out("declared not-mine")
    except pika.exceptions.ChannelClosedByBroker as e:
        out("closed", e.reply_code, e.reply_text)

elif scenario == "stream":
    # a stream read from three offsets as pika encodes them: a string, an int, a datetime
    import datetime
    q = prefix + ".stream"
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "stream"})
    ch.confirm_delivery()
    for i in range(6):
        ch.basic_publish("", q, ("s%d" % i).encode())
    ch.basic_qos(prefetch_count=10)
    for offset in ("first", 4, datetime.datetime(2000, 1, 1)):
        got = []
        for method, props, body in ch.consume(q, arguments={"x-stream-offset": offset}, inactivity_timeout=0.5):
            if method is None:
                break
            got.append("%s@%d" % (body.decode(), props.headers["x-stream-offset"]))
            ch.basic_ack(method.delivery_tag)
        ch.cancel()
        out(type(offset).__name__, " ".join(got))
    ch.queue_delete(q)

elif scenario == "heartbeat-stall":
    # Connected (the URL asks for a heartbeat); the test stalls this connection and
    # pika must give up on its own: its heartbeat checker aborts the stream.
    out("connected heartbeat=%d" % conn._impl.params.heartbeat)
    try:
        while True:
            conn.process_data_events(time_limit=1)
    except pika.exceptions.AMQPError as e:
        out("lost", type(e).__name__, repr(e))
    raise SystemExit(0)

else:
    raise SystemExit("unknown scenario " + scenario)

conn.close()
out("done")
