"""
Celery 5 (kombu and py-amqp, Debian's python3-celery) against a broker:
  python3 celery_client.py URL PREFIX SCENARIO
Prints one line per check; the expected lines are what RabbitMQ 3.10.8 printed.
The worker is `celery worker` in a child process (in worker-lost, one that
gets SIGKILL with tasks in hand), which imports this file as its app module:
CELERY_URL and CELERY_PREFIX carry the broker and the queue's prefix.
"""
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from celery import Celery, chain, group

URL = os.environ.get('CELERY_URL') or sys.argv[1]
PREFIX = os.environ.get('CELERY_PREFIX') or sys.argv[2]
logging.basicConfig(level=logging.ERROR)
app = Celery('warren_check', broker=URL, backend='rpc://')
app.conf.update(
    task_default_queue=f'{PREFIX}.tasks',
    worker_send_task_events=True,
    task_send_sent_event=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=False,
    result_expires=60,
)


@app.task(name='add')
def add(x, y):
    return x + y


attempts = {}


@app.task(bind=True, max_retries=5, name='flaky')
def flaky(self, key):
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < 3:
        raise self.retry(countdown=0.2)
    return attempts[key]


@app.task(name='sleepy')
def sleepy(seconds):
    time.sleep(seconds)
    return 'slept'


@app.task(bind=True, acks_late=True, name='slow_echo')
def slow_echo(self, n):
    time.sleep(0.2)
    return [n, bool(self.request.delivery_info.get('redelivered'))]


def say(*words):
    print(*words, flush=True)


@contextmanager
def child_worker():
    """`celery worker` in a child process (one task at a time, prefetch 4), stopped on the way out unless killed."""
    env = dict(os.environ, CELERY_URL=URL, CELERY_PREFIX=PREFIX, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    args = [sys.executable, '-m', 'celery', '-A', 'celery_client', 'worker', '--pool', 'solo', '--concurrency', '1',
            '--prefetch-multiplier', '4', '--loglevel', 'ERROR', '--without-gossip', '--without-mingle', '--without-heartbeat']
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
        child.wait()


def tasks():
    """300 numbered tasks through the rpc result backend, a group, a chain, and the events they sent."""
    events = []

    def listen():
        with app.connection_for_read() as conn:
            app.events.Receiver(conn, handlers={'*': lambda e: events.append(e['type'])}).capture(limit=None, timeout=20, wakeup=False)

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(0.5)
    with child_worker():
        results = [add.delay(i, i) for i in range(300)]
        say('tasks', [r.get(timeout=20) for r in results] == [2 * i for i in range(300)])
        say('group', group(add.s(i, 1) for i in range(50))().get(timeout=20) == [i + 1 for i in range(50)])
        say('chain', chain(add.s(1, 2), add.s(10), add.s(100))().get(timeout=20))
        time.sleep(1.0)
    say('events', ' '.join(sorted(set(events) & {'task-sent', 'task-received', 'task-started', 'task-succeeded'})))


def schedule():
    """A countdown (ETA: the worker holds it unacked and raises its prefetch), retries, a revoke."""
    with child_worker():
        t = time.time()
        value = add.apply_async((2, 2), countdown=1.5).get(timeout=20)
        say('eta', value, time.time() - t >= 1.4)
        say('retry', flaky.delay('k').get(timeout=20))
        r = sleepy.apply_async((0.5,), countdown=3)
        app.control.revoke(r.id)
        try:
            say('revoked', r.get(timeout=10))
        except Exception as e:
            say('revoked', type(e).__name__)


def control():
    """Remote control: broadcast on the pidbox fanout exchange, replies on the reply exchange."""
    with child_worker():
        add.delay(1, 1).get(timeout=20)  # the worker is up
        pongs = app.control.ping(timeout=1)
        say('ping', len(pongs), all(list(p.values())[0] == {'ok': 'pong'} for p in pongs))
        queues = app.control.inspect(timeout=1).active_queues() or {}
        say('active_queues', [q['name'].replace(PREFIX, 'PREFIX') for v in queues.values() for q in v])
        say('stats', len(app.control.inspect(timeout=1).stats() or {}))
        app.control.add_consumer(f'{PREFIX}.extra', reply=False)
        time.sleep(1.0)
        queues = app.control.inspect(timeout=1).active_queues() or {}
        say('add_consumer', sorted(q['name'].replace(PREFIX, 'PREFIX') for v in queues.values() for q in v))


def worker_lost():
    """acks_late tasks held by a worker that is killed come back, redelivered, to the next one."""
    results = [slow_echo.delay(n) for n in range(20)]
    with child_worker() as first:
        results[1].get(timeout=20)  # the first worker is taking them
        first.send_signal(signal.SIGKILL)
    with child_worker():
        values = [r.get(timeout=30) for r in results]
    say('all', [v[0] for v in values] == list(range(20)))
    redelivered = sum(1 for v in values if v[1])
    say('redelivered', 1 <= redelivered <= 4)


def serving():
    """Returns once the worker answers a ping: its event loop runs."""
    for _ in range(40):
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError('the worker never answered a ping')


def reset():
    """
    A worker started once for a suite survives the rig's reset between tests (the test
    resets after `ready`, then sends a line): a task sent afterwards, from a fresh
    process as the next test would, is answered. This process's own connections
    were closed or their consumers cancelled: it sends nothing more.
    The first task goes once the worker's loop runs: one it finds in its socket as
    the loop starts it runs in its first drain, and acks only at its next event, up
    to seconds later (celery/worker/loops.py, _quick_drain), into the reset.
    """
    with child_worker():
        serving()
        say('before', add.delay(1, 2).get(timeout=20))
        say('ready')
        sys.stdin.readline()
        after = subprocess.run([sys.executable, os.path.abspath(__file__), URL, PREFIX, 'add'], capture_output=True, text=True, timeout=40)
        say('after', after.stdout.strip())


def one_add():
    print(add.delay(3, 4).get(timeout=30), flush=True)


if __name__ == '__main__':
    {'tasks': tasks, 'schedule': schedule, 'control': control, 'worker-lost': worker_lost, 'reset': reset, 'add': one_add}[sys.argv[3]]()
