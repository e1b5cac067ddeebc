// Scenarios for warren run with RabbitMQ's Java client (Debian librabbitmq-client-java), one per invocation.
//
// usage: java -cp amqp-client.jar:slf4j-api.jar:DIR JavaClient URL SCENARIO PREFIX [ARGS...]
// Prints one line per observation; the test asserts on stdout. Names are
// prefixed with PREFIX so that runs do not share queues or exchanges.
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BlockedListener;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

public class JavaClient {
  static final long WAIT_S = 10;
  static final AMQP.BasicProperties PERSISTENT = new AMQP.BasicProperties.Builder().deliveryMode(2).build();

  public static void main(String[] argv) throws Exception {
    // UTF-8 whatever the locale: the test compares non-ASCII text
    System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8));
    String url = argv[0], scenario = argv[1], prefix = argv[2];
    ConnectionFactory factory = new ConnectionFactory();
    factory.setUri(url);
    if (scenario.equals("recover")) {
      recover(factory, prefix);
      System.out.println("done");
      return;
    }
    factory.setAutomaticRecoveryEnabled(false);
    try (Connection conn = factory.newConnection(prefix)) {
      Channel ch = conn.createChannel();
      switch (scenario) {
        case "confirms" -> confirms(ch, prefix, Integer.parseInt(argv[3]));
        case "nack" -> nack(ch, prefix);
        case "return" -> returned(ch, prefix);
        case "e2e" -> e2e(ch, prefix);
        case "tx" -> tx(ch, prefix);
        case "errors" -> errors(conn, ch, prefix);
        case "cancel" -> cancel(conn, ch, prefix);
        case "headers" -> headers(ch, argv[3]);
        case "dead-letter" -> deadLetter(ch, prefix);
        case "blocked" -> blocked(conn, ch, prefix);
        default -> throw new IllegalArgumentException("no scenario " + scenario);
      }
    }
    System.out.println("done");
  }

  static byte[] text(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** N numbered persistent publishes confirmed, then consumed with prefetch 50 and manual acks: each once, in order. */
  static void confirms(Channel ch, String prefix, int n) throws Exception {
    String q = ch.queueDeclare(prefix + ".q", true, false, false, null).getQueue();
    ch.confirmSelect();
    for (int i = 0; i < n; i++) ch.basicPublish("", q, PERSISTENT, text("m-" + i));
    ch.waitForConfirmsOrDie(WAIT_S * 1000);
    System.out.println("confirmed " + n);
    System.out.println("ready " + ch.queueDeclarePassive(q).getMessageCount());
    ch.basicQos(50);
    BlockingQueue<String> got = new ArrayBlockingQueue<>(n);
    ch.basicConsume(q, false, new DefaultConsumer(ch) {
      @Override
      public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) throws IOException {
        got.add(new String(body, StandardCharsets.UTF_8) + (env.isRedeliver() ? " redelivered" : ""));
        getChannel().basicAck(env.getDeliveryTag(), false);
      }
    });
    int inOrder = 0;
    for (int i = 0; i < n; i++) {
      String body = got.poll(WAIT_S, TimeUnit.SECONDS);
      if (body == null) break;
      if (body.equals("m-" + i)) inOrder++;
      else System.out.println("out of order at " + i + ": " + body);
    }
    System.out.println("got " + inOrder + " in order");
    Thread.sleep(100); // the last acks reach the broker
    System.out.println("remaining " + ch.queueDeclarePassive(q).getMessageCount());
    ch.queueDelete(q);
  }

  /** basic.nack with requeue: the message comes back redelivered; without: it is gone. */
  static void nack(Channel ch, String prefix) throws Exception {
    String q = ch.queueDeclare("", false, true, true, null).getQueue();
    ch.basicPublish("", q, null, text("again"));
    ch.basicPublish("", q, null, text("dropped"));
    GetResponse first = getWithin(ch, q);
    ch.basicNack(first.getEnvelope().getDeliveryTag(), false, true);
    GetResponse second = getWithin(ch, q);
    GetResponse third = getWithin(ch, q);
    System.out.println("got " + body(second) + " redelivered=" + second.getEnvelope().isRedeliver() + ", " + body(third) + " redelivered=" + third.getEnvelope().isRedeliver());
    ch.basicNack(third.getEnvelope().getDeliveryTag(), false, false);
    ch.basicAck(second.getEnvelope().getDeliveryTag(), false);
    System.out.println("remaining " + ch.queueDeclarePassive(q).getMessageCount());
  }

  static GetResponse getWithin(Channel ch, String q) throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
    while (System.nanoTime() < until) {
      GetResponse r = ch.basicGet(q, false);
      if (r != null) return r;
      Thread.sleep(10);
    }
    throw new IllegalStateException("nothing in " + q);
  }

  static String body(GetResponse r) {
    return new String(r.getBody(), StandardCharsets.UTF_8);
  }

  /** A mandatory publish with no route comes back to the return listener. */
  static void returned(Channel ch, String prefix) throws Exception {
    CountDownLatch back = new CountDownLatch(1);
    ch.addReturnListener((code, text, exchange, key, props, body) -> {
      System.out.println("returned " + code + " " + text + " " + key + " " + new String(body, StandardCharsets.UTF_8));
      back.countDown();
    });
    ch.basicPublish("", prefix + ".nowhere", true, null, text("lost"));
    if (!back.await(WAIT_S, TimeUnit.SECONDS)) System.out.println("no return");
  }

  /** An exchange bound to an exchange (RabbitMQ's e2e bindings): a fanout into a topic exchange into a queue. */
  static void e2e(Channel ch, String prefix) throws Exception {
    ch.exchangeDeclare(prefix + ".in", "fanout");
    ch.exchangeDeclare(prefix + ".topic", "topic");
    ch.exchangeBind(prefix + ".topic", prefix + ".in", "");
    String q = ch.queueDeclare("", false, true, true, null).getQueue();
    ch.queueBind(q, prefix + ".topic", "a.#");
    ch.basicPublish(prefix + ".in", "a.b", null, text("routed"));
    ch.basicPublish(prefix + ".in", "b.a", null, text("not routed"));
    ch.basicPublish(prefix + ".in", "a", null, text("routed too"));
    List<String> got = new ArrayList<>();
    got.add(body(getWithin(ch, q)));
    got.add(body(getWithin(ch, q)));
    System.out.println("got " + String.join(", ", got) + "; left " + ch.queueDeclarePassive(q).getMessageCount());
    ch.exchangeUnbind(prefix + ".topic", prefix + ".in", "");
    ch.basicPublish(prefix + ".in", "a.b", null, text("after unbind"));
    Thread.sleep(100);
    System.out.println("after unbind " + ch.queueDeclarePassive(q).getMessageCount());
    ch.exchangeDelete(prefix + ".in");
    ch.exchangeDelete(prefix + ".topic");
  }

  /** Transactions: a rollback drops the publishes, a commit makes them visible. */
  static void tx(Channel ch, String prefix) throws Exception {
    String q = ch.queueDeclare("", false, true, true, null).getQueue();
    ch.txSelect();
    for (int i = 0; i < 5; i++) ch.basicPublish("", q, null, text("r-" + i));
    System.out.println("before commit " + ch.queueDeclarePassive(q).getMessageCount());
    ch.txRollback();
    System.out.println("after rollback " + ch.queueDeclarePassive(q).getMessageCount());
    for (int i = 0; i < 5; i++) ch.basicPublish("", q, null, text("c-" + i));
    ch.txCommit();
    System.out.println("after commit " + ch.queueDeclarePassive(q).getMessageCount());
  }

  /** Channel errors reach the client as RabbitMQ words them; the connection goes on. */
  static void errors(Connection conn, Channel ch, String prefix) throws Exception {
    try {
      ch.queueDeclarePassive(prefix + ".missing");
      System.out.println("no error");
    } catch (IOException e) {
      System.out.println("closed " + closeOf(e));
    }
    System.out.println("channel open " + ch.isOpen());
    Channel again = conn.createChannel();
    String q = again.queueDeclare(prefix + ".x", false, false, true, null).getQueue();
    try {
      again.queueDeclare(q, true, false, true, null);
      System.out.println("no error");
    } catch (IOException e) {
      System.out.println("closed " + closeOf(e));
    }
    Channel third = conn.createChannel();
    third.queueDelete(q);
    System.out.println("connection open " + conn.isOpen());
  }

  static String closeOf(IOException e) {
    ShutdownSignalException s = (ShutdownSignalException) e.getCause();
    AMQP.Channel.Close close = (AMQP.Channel.Close) s.getReason();
    return close.getReplyCode() + " " + close.getReplyText();
  }

  /** A queue deleted under its consumer: the consumer hears basic.cancel (consumer_cancel_notify). */
  static void cancel(Connection conn, Channel ch, String prefix) throws Exception {
    String q = ch.queueDeclare(prefix + ".doomed", false, false, false, null).getQueue();
    CountDownLatch cancelled = new CountDownLatch(1);
    String tag = ch.basicConsume(q, true, new DefaultConsumer(ch) {
      @Override
      public void handleCancel(String consumerTag) {
        System.out.println("cancelled by the broker " + consumerTag.equals(getConsumerTag()));
        cancelled.countDown();
      }
    });
    conn.createChannel().queueDelete(q);
    if (!cancelled.await(WAIT_S, TimeUnit.SECONDS)) System.out.println("no cancel for " + tag);
  }

  /**
   * connection.blocked and unblocked: says "ready", publishes once told on stdin
   * (the test has blocked publishers meanwhile), and reports each notification.
   */
  static void blocked(Connection conn, Channel ch, String prefix) throws Exception {
    String q = ch.queueDeclare(prefix + ".q", false, false, true, null).getQueue();
    CountDownLatch unblocked = new CountDownLatch(1);
    conn.addBlockedListener(new BlockedListener() {
      @Override
      public void handleBlocked(String reason) {
        System.out.println("blocked " + reason);
      }

      @Override
      public void handleUnblocked() {
        System.out.println("unblocked");
        unblocked.countDown();
      }
    });
    System.out.println("ready");
    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
    ch.basicPublish("", q, null, text("held"));
    if (!unblocked.await(WAIT_S, TimeUnit.SECONDS)) System.out.println("not unblocked");
    System.out.println("count " + ch.queueDeclarePassive(q).getMessageCount());
  }

  /**
   * Automatic recovery across a broker restart: numbered persistent messages to a
   * durable queue, a copy of each through amq.fanout to a server-named exclusive
   * queue, 500 before the restart and 500 after (a publish the restart cut off is
   * tried again). Prints what each consumer missed once all 1,000 are confirmed.
   */
  static void recover(ConnectionFactory factory, String prefix) throws Exception {
    factory.setAutomaticRecoveryEnabled(true);
    factory.setNetworkRecoveryInterval(100);
    try (Connection consumer = factory.newConnection(prefix + ".consumer"); Connection publisher = factory.newConnection(prefix + ".publisher")) {
      Channel ch = consumer.createChannel();
      ch.basicQos(20);
      String q = ch.queueDeclare(prefix + ".q", true, false, false, null).getQueue();
      String copies = ch.queueDeclare().getQueue();
      ch.queueBind(copies, "amq.fanout", "");
      java.util.concurrent.atomic.AtomicReference<String> renamed = new java.util.concurrent.atomic.AtomicReference<>();
      ((com.rabbitmq.client.impl.recovery.AutorecoveringConnection) consumer).addQueueRecoveryListener((from, to) -> renamed.set(to));
      java.util.Set<Integer> got = java.util.concurrent.ConcurrentHashMap.newKeySet();
      java.util.Set<Integer> copied = java.util.concurrent.ConcurrentHashMap.newKeySet();
      ch.basicConsume(q, false, new DefaultConsumer(ch) {
        @Override
        public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) throws IOException {
          got.add(Integer.parseInt(new String(body, StandardCharsets.UTF_8)));
          getChannel().basicAck(env.getDeliveryTag(), false);
        }
      });
      Channel copyCh = consumer.createChannel();
      copyCh.basicConsume(copies, true, new DefaultConsumer(copyCh) {
        @Override
        public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
          copied.add(Integer.parseInt(new String(body, StandardCharsets.UTF_8)));
        }
      });
      Channel pub = publisher.createChannel();
      pub.confirmSelect();
      int retries = 0;
      for (int i = 0; i < 1000; ) {
        try {
          pub.basicPublish("", q, PERSISTENT, text(Integer.toString(i)));
          pub.basicPublish("amq.fanout", "", null, text(Integer.toString(i)));
          pub.waitForConfirmsOrDie(WAIT_S * 1000);
          i++;
        } catch (IOException | com.rabbitmq.client.AlreadyClosedException | java.util.concurrent.TimeoutException e) {
          if (++retries > 200) throw e;
          Thread.sleep(50);
          continue;
        }
        if (i == 500) {
          for (int w = 0; w < 100 && (got.size() < 500 || copied.size() < 500); w++) Thread.sleep(50);
          System.out.println("before the restart " + got.size() + " " + copied.size());
          System.out.println("ready");
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        }
      }
      for (int w = 0; w < 200 && (got.size() < 1000 || copied.size() < 1000); w++) Thread.sleep(50);
      int missing = 0, missingCopies = 0;
      for (int i = 0; i < 1000; i++) {
        if (!got.contains(i)) missing++;
        if (!copied.contains(i)) missingCopies++;
      }
      System.out.println("queue missing " + missing + ", copies missing " + missingCopies);
      System.out.println("server-named queue declared again under a new name " + (renamed.get() != null && !renamed.get().equals(copies)));
    }
  }

  /** A rejected message dead-lettered to another queue: its x-death header as the client reads it (Spring reads count as a Long). */
  static void deadLetter(Channel ch, String prefix) throws Exception {
    String dlq = ch.queueDeclare(prefix + ".dlq", false, true, true, null).getQueue();
    Map<String, Object> args = new TreeMap<>();
    args.put("x-dead-letter-exchange", "");
    args.put("x-dead-letter-routing-key", dlq);
    String q = ch.queueDeclare(prefix + ".work", false, true, true, args).getQueue();
    ch.basicPublish("", q, null, text("doomed"));
    GetResponse r = getWithin(ch, q);
    ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
    GetResponse dead = getWithin(ch, dlq);
    System.out.println("dead-lettered " + body(dead) + " to " + dead.getEnvelope().getRoutingKey().equals(dlq));
    Object deaths = dead.getProps().getHeaders().get("x-death");
    for (Object death : (List<?>) deaths) {
      for (Map.Entry<?, ?> e : new TreeMap<>((Map<?, ?>) death).entrySet()) {
        String value = e.getKey().equals("time") ? "(" + e.getValue().getClass().getSimpleName() + ")" : describe(e.getValue()).replace(prefix, "P");
        System.out.println("x-death " + e.getKey() + " = " + value);
      }
    }
    for (String h : new TreeMap<>(dead.getProps().getHeaders()).keySet()) System.out.println("header " + h);
    ch.basicAck(dead.getEnvelope().getDeliveryTag(), false);
  }

  /** Takes one message another client published and prints its properties, headers sorted, each with its Java type. */
  static void headers(Channel ch, String q) throws Exception {
    GetResponse r = getWithin(ch, q);
    AMQP.BasicProperties p = r.getProps();
    System.out.println("body " + body(r));
    System.out.println("content-type " + p.getContentType() + " priority " + p.getPriority() + " correlation-id " + p.getCorrelationId() + " delivery-mode " + p.getDeliveryMode());
    for (Map.Entry<String, Object> h : new TreeMap<>(p.getHeaders()).entrySet()) System.out.println("header " + h.getKey() + " = " + describe(h.getValue()));
    ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
  }

  static String describe(Object v) {
    if (v == null) return "null";
    if (v instanceof List<?> list) {
      List<String> parts = new ArrayList<>();
      for (Object item : list) parts.add(describe(item));
      return "[" + String.join(", ", parts) + "]";
    }
    if (v instanceof Map<?, ?> map) {
      List<String> parts = new ArrayList<>();
      for (Map.Entry<?, ?> e : new TreeMap<>(map).entrySet()) parts.add(e.getKey() + ": " + describe(e.getValue()));
      return "{" + String.join(", ", parts) + "}";
    }
    return v + " (" + v.getClass().getSimpleName() + ")";
  }
}
