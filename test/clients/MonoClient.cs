// Scenarios for warren run with the .NET client as Debian ships it (libmono-rabbitmq4.0-cil:
// RabbitMQ.Client 1.x from Mono's tree, which speaks AMQP 0-8 and 0-9, not 0-9-1; RabbitMQ
// takes 0-9's protocol header as 0-9-1 and speaks 0-8 as 0-8, and so does warren). One
// scenario per invocation.
//
// usage: [MONO_CLIENT_PROTOCOL=AMQP_0_8] mono MonoClient.exe HOST PORT SCENARIO PREFIX [ARGS...]
// (AMQP_0_9 unless told; the client's own default is AMQP_0_8.)
// Prints one line per observation; the test asserts on stdout. Names are prefixed with
// PREFIX so that runs do not share queues or exchanges.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

class MonoClient {
  const int WaitMs = 10000;

  static int Main(string[] args) {
    string host = args[0], scenario = args[2], prefix = args[3];
    ConnectionFactory factory = new ConnectionFactory();
    string protocol = Environment.GetEnvironmentVariable("MONO_CLIENT_PROTOCOL");
    factory.Protocol = protocol == null ? Protocols.AMQP_0_9 : Protocols.Lookup(protocol);
    factory.HostName = host;
    factory.Port = int.Parse(args[1]);
    factory.UserName = "guest";
    factory.Password = "guest";
    IConnection conn = factory.CreateConnection();
    IModel ch = conn.CreateModel();
    switch (scenario) {
      case "numbered": Numbered(ch, prefix, int.Parse(args[4])); break;
      case "headers": Headers(ch, prefix); break;
      case "requeue": Requeue(ch, prefix); break;
      case "tx": Tx(conn, ch, prefix); break;
      case "return": Returned(ch, prefix); break;
      case "errors": Errors(conn, ch, prefix); break;
      default: throw new Exception("no scenario " + scenario);
    }
    conn.Close();
    Console.WriteLine("done");
    return 0;
  }

  // Message i's body: its number, then i*37 % 70000 bytes of a pattern that depends on i,
  // so that a body cut, joined with another or delivered twice shows.
  static byte[] Body(int i) {
    byte[] head = Encoding.ASCII.GetBytes(i + ":");
    byte[] body = new byte[head.Length + (i * 37) % 70000];
    Array.Copy(head, body, head.Length);
    for (int k = head.Length; k < body.Length; k++) body[k] = (byte)((i + k) * 31);
    return body;
  }

  static int NumberOf(byte[] body) {
    int colon = Array.IndexOf(body, (byte)':');
    int i = int.Parse(Encoding.ASCII.GetString(body, 0, colon));
    byte[] want = Body(i);
    if (want.Length != body.Length) throw new Exception("message " + i + ": " + body.Length + " bytes, not " + want.Length);
    for (int k = 0; k < want.Length; k++) if (want[k] != body[k]) throw new Exception("message " + i + ": byte " + k + " differs");
    return i;
  }

  static BasicDeliverEventArgs Next(QueueingBasicConsumer consumer) {
    object delivery;
    if (!consumer.Queue.Dequeue(WaitMs, out delivery)) throw new Exception("no delivery within " + WaitMs + " ms");
    return (BasicDeliverEventArgs)delivery;
  }

  // n numbered messages through a server-named queue to a consumer with a prefetch of 50 that
  // acks each; then a get finds the queue empty.
  static void Numbered(IModel ch, string prefix, int n) {
    string queue = ch.QueueDeclare();
    Console.WriteLine("server-named " + queue.StartsWith("amq.gen-"));
    for (int i = 0; i < n; i++) ch.BasicPublish("", queue, null, Body(i));
    ch.BasicQos(0, 50, false);
    QueueingBasicConsumer consumer = new QueueingBasicConsumer(ch);
    ch.BasicConsume(queue, false, null, consumer);
    bool[] seen = new bool[n];
    int inOrder = 0;
    for (int got = 0; got < n; got++) {
      BasicDeliverEventArgs d = Next(consumer);
      int i = NumberOf(d.Body);
      if (seen[i]) throw new Exception("message " + i + " twice");
      seen[i] = true;
      if (i == got) inOrder++;
      ch.BasicAck(d.DeliveryTag, false);
    }
    Console.WriteLine("received " + n + " of " + n + ", in order " + inOrder);
    Console.WriteLine("get after " + (ch.BasicGet(queue, false) == null ? "empty" : "a message"));
  }

  // A message with properties and a headers table of each type the client writes, read back
  // by basic.get: the properties and headers as the client decodes them.
  static void Headers(IModel ch, string prefix) {
    string queue = prefix + "-headers";
    ch.QueueDeclare(queue, false, false, false, true, false, null);
    IBasicProperties props = ch.CreateBasicProperties();
    props.ContentType = "text/plain";
    props.CorrelationId = "c-1";
    props.Priority = 3;
    props.DeliveryMode = 2;
    props.MessageId = "m-ü";
    Hashtable headers = new Hashtable();
    headers["int"] = 5;
    headers["str"] = "ü€";
    headers["bytes"] = Encoding.UTF8.GetBytes("raw");
    Hashtable nested = new Hashtable();
    nested["a"] = 1;
    headers["nested"] = nested;
    props.Headers = headers;
    ch.BasicPublish("", queue, props, Encoding.UTF8.GetBytes("body héllo"));
    BasicGetResult r = Get(ch, queue);
    IBasicProperties p = r.BasicProperties;
    Console.WriteLine("body " + Encoding.UTF8.GetString(r.Body));
    Console.WriteLine("content-type " + p.ContentType + " priority " + p.Priority + " correlation-id " + p.CorrelationId
      + " delivery-mode " + p.DeliveryMode + " message-id " + p.MessageId);
    List<string> keys = new List<string>();
    foreach (object k in p.Headers.Keys) keys.Add((string)k);
    keys.Sort(StringComparer.Ordinal);
    foreach (string k in keys) Console.WriteLine("header " + k + " = " + Show(p.Headers[k]));
    ch.BasicAck(r.DeliveryTag, false);
  }

  static string Show(object v) {
    if (v is byte[]) return Encoding.UTF8.GetString((byte[])v) + " (byte[])";
    if (v is IDictionary) {
      List<string> parts = new List<string>();
      foreach (DictionaryEntry e in (IDictionary)v) parts.Add(e.Key + ": " + Show(e.Value));
      parts.Sort(StringComparer.Ordinal);
      return "{" + string.Join(", ", parts.ToArray()) + "}";
    }
    return v == null ? "null" : v + " (" + v.GetType().Name + ")";
  }

  static BasicGetResult Get(IModel ch, string queue) {
    DateTime until = DateTime.Now.AddMilliseconds(WaitMs);
    while (DateTime.Now < until) {
      BasicGetResult r = ch.BasicGet(queue, false);
      if (r != null) return r;
      System.Threading.Thread.Sleep(10);
    }
    throw new Exception("no message in " + queue);
  }

  // reject with requeue, then recover: each time the message comes back with redelivered set.
  static void Requeue(IModel ch, string prefix) {
    string queue = prefix + "-requeue";
    ch.QueueDeclare(queue, false, false, false, true, false, null);
    ch.BasicPublish("", queue, null, Body(7));
    BasicGetResult first = Get(ch, queue);
    Console.WriteLine("first " + NumberOf(first.Body) + " redelivered " + first.Redelivered);
    ch.BasicReject(first.DeliveryTag, true);
    BasicGetResult again = Get(ch, queue);
    Console.WriteLine("after reject " + NumberOf(again.Body) + " redelivered " + again.Redelivered);
    ch.BasicRecover(true);
    BasicGetResult recovered = Get(ch, queue);
    Console.WriteLine("after recover " + NumberOf(recovered.Body) + " redelivered " + recovered.Redelivered + " count " + recovered.MessageCount);
    ch.BasicReject(recovered.DeliveryTag, false);
    Console.WriteLine("after drop " + (ch.BasicGet(queue, false) == null ? "empty" : "a message"));
  }

  // Publishes in a transaction: none visible before commit, none after a rollback; an ack in
  // one waits for its commit too. Counted from a second channel, outside the transaction.
  static void Tx(IConnection conn, IModel ch, string prefix) {
    string queue = prefix + "-tx";
    IModel counter = conn.CreateModel();
    ch.QueueDeclare(queue, false, false, false, true, false, null);
    ch.TxSelect();
    for (int i = 0; i < 3; i++) ch.BasicPublish("", queue, null, Body(i));
    Console.WriteLine("before commit " + Count(counter, queue));
    ch.TxCommit();
    Console.WriteLine("after commit " + Count(counter, queue));
    ch.BasicPublish("", queue, null, Body(3));
    ch.TxRollback();
    Console.WriteLine("after rollback " + Count(counter, queue));
    BasicGetResult r = Get(ch, queue);
    ch.BasicAck(r.DeliveryTag, false);
    ch.TxRollback();
    Console.WriteLine("ack rolled back: " + Count(counter, queue) + " ready");
    ch.BasicAck(r.DeliveryTag, false);
    ch.TxCommit();
    ch.Close();
    Console.WriteLine("ack committed, channel closed: " + Count(counter, queue) + " ready");
  }

  static uint Count(IModel ch, string queue) {
    // This client's QueueDeclare hands back the name alone: a get's message-count, plus the one got and put back.
    BasicGetResult r = ch.BasicGet(queue, false);
    if (r == null) return 0;
    uint count = r.MessageCount + 1;
    ch.BasicReject(r.DeliveryTag, true);
    return count;
  }

  // A mandatory publish nothing is bound for comes back as basic.return 312.
  static void Returned(IModel ch, string prefix) {
    string exchange = prefix + "-ex";
    ch.ExchangeDeclare(exchange, "direct", false, false, true, false, false, null);
    SharedQueueHolder returns = new SharedQueueHolder();
    ch.BasicReturn += delegate (IModel model, BasicReturnEventArgs r) { returns.Queue.Enqueue(r); };
    ch.BasicPublish(exchange, "nowhere", true, false, null, Body(42));
    object got;
    if (!returns.Queue.Dequeue(WaitMs, out got)) throw new Exception("no basic.return");
    BasicReturnEventArgs ret = (BasicReturnEventArgs)got;
    Console.WriteLine("return " + ret.ReplyCode + " " + ret.ReplyText + " " + ret.Exchange + " " + ret.RoutingKey + " " + NumberOf(ret.Body));
  }

  class SharedQueueHolder { public RabbitMQ.Util.SharedQueue Queue = new RabbitMQ.Util.SharedQueue(); }

  // Channel errors the client sees as OperationInterruptedException; the connection goes on.
  static void Errors(IConnection conn, IModel ch, string prefix) {
    try {
      ch.QueueDeclare(prefix + "-missing", true, false, false, false, false, null);
      Console.WriteLine("passive declare: no error");
    } catch (OperationInterruptedException e) {
      Console.WriteLine("passive declare " + e.ShutdownReason.ReplyCode + " " + e.ShutdownReason.ReplyText);
    }
    IModel ch2 = conn.CreateModel();
    ch2.ExchangeDeclare(prefix + "-fan", "fanout", false, false, true, false, false, null);
    try {
      ch2.ExchangeDeclare(prefix + "-fan", "topic", false, false, true, false, false, null);
      Console.WriteLine("redeclare: no error");
    } catch (OperationInterruptedException e) {
      Console.WriteLine("redeclare " + e.ShutdownReason.ReplyCode);
    }
    IModel ch3 = conn.CreateModel();
    string queue = ch3.QueueDeclare();
    ch3.BasicPublish("", queue, null, Body(1));
    Console.WriteLine("connection open " + conn.IsOpen + ", new channel works " + (NumberOf(Get(ch3, queue).Body) == 1));
  }
}
