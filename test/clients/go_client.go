// Scenarios for warren run with RabbitMQ's Go client (Debian golang-github-rabbitmq-amqp091-go-dev), one per invocation.
//
// usage: go_client URL SCENARIO PREFIX [ARGS...]
// Prints one line per observation; the test asserts on stdout. Names are
// prefixed with PREFIX so that runs do not share queues or exchanges.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const wait = 10 * time.Second

func main() {
	url, scenario, prefix, args := os.Args[1], os.Args[2], os.Args[3], os.Args[4:]
	conn, err := amqp.DialConfig(url, amqp.Config{Properties: amqp.Table{"connection_name": prefix}})
	must(err)
	defer conn.Close()
	ch, err := conn.Channel()
	must(err)
	switch scenario {
	case "confirms":
		n, err := strconv.Atoi(args[0])
		must(err)
		confirms(ch, prefix, n)
	case "nack":
		nack(ch)
	case "return":
		returned(ch, prefix)
	case "e2e":
		e2e(ch, prefix)
	case "tx":
		tx(ch)
	case "errors":
		channelErrors(conn, ch, prefix)
	case "cancel":
		cancel(conn, ch, prefix)
	case "headers":
		headers(ch, args[0])
	case "dead-letter":
		deadLetter(ch, prefix)
	case "blocked":
		blocked(conn, ch, prefix)
	default:
		panic("no scenario " + scenario)
	}
	fmt.Println("done")
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func publish(ch *amqp.Channel, exchange, key string, mandatory bool, msg amqp.Publishing) {
	must(ch.Publish(exchange, key, mandatory, false, msg))
}

func text(s string) amqp.Publishing {
	return amqp.Publishing{Body: []byte(s)}
}

func count(ch *amqp.Channel, q string) int {
	info, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	must(err)
	return info.Messages
}

// N numbered persistent publishes confirmed, then consumed with prefetch 50 and manual acks: each once, in order.
func confirms(ch *amqp.Channel, prefix string, n int) {
	q, err := ch.QueueDeclare(prefix+".q", true, false, false, false, nil)
	must(err)
	must(ch.Confirm(false))
	acks := ch.NotifyPublish(make(chan amqp.Confirmation, n))
	for i := 0; i < n; i++ {
		publish(ch, "", q.Name, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprintf("m-%d", i))})
	}
	confirmed := 0
	for confirmed < n {
		select {
		case c := <-acks:
			if !c.Ack {
				fmt.Println("nacked", c.DeliveryTag)
			}
			confirmed++
		case <-time.After(wait):
			fmt.Println("confirms stopped at", confirmed)
			return
		}
	}
	fmt.Println("confirmed", confirmed)
	fmt.Println("ready", count(ch, q.Name))
	must(ch.Qos(50, 0, false))
	deliveries, err := ch.Consume(q.Name, "", false, false, false, false, nil)
	must(err)
	inOrder := 0
	for i := 0; i < n; i++ {
		select {
		case d := <-deliveries:
			if string(d.Body) == fmt.Sprintf("m-%d", i) && !d.Redelivered {
				inOrder++
			} else {
				fmt.Println("out of order at", i, string(d.Body), d.Redelivered)
			}
			must(d.Ack(false))
		case <-time.After(wait):
			fmt.Println("deliveries stopped at", i)
			i = n
		}
	}
	fmt.Println("got", inOrder, "in order")
	time.Sleep(100 * time.Millisecond) // the last acks reach the broker
	fmt.Println("remaining", count(ch, q.Name))
	_, err = ch.QueueDelete(q.Name, false, false, false)
	must(err)
}

func getWithin(ch *amqp.Channel, q string) amqp.Delivery {
	until := time.Now().Add(wait)
	for time.Now().Before(until) {
		d, ok, err := ch.Get(q, false)
		must(err)
		if ok {
			return d
		}
		time.Sleep(10 * time.Millisecond)
	}
	panic("nothing in " + q)
}

// basic.nack with requeue: the message comes back redelivered; without: it is gone.
func nack(ch *amqp.Channel) {
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(err)
	publish(ch, "", q.Name, false, text("again"))
	publish(ch, "", q.Name, false, text("dropped"))
	first := getWithin(ch, q.Name)
	must(first.Nack(false, true))
	second := getWithin(ch, q.Name)
	third := getWithin(ch, q.Name)
	fmt.Printf("got %s redelivered=%v, %s redelivered=%v\n", second.Body, second.Redelivered, third.Body, third.Redelivered)
	must(third.Nack(false, false))
	must(second.Ack(false))
	fmt.Println("remaining", count(ch, q.Name))
}

// A mandatory publish with no route comes back on NotifyReturn.
func returned(ch *amqp.Channel, prefix string) {
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	publish(ch, "", prefix+".nowhere", true, text("lost"))
	select {
	case r := <-returns:
		fmt.Println("returned", r.ReplyCode, r.ReplyText, r.RoutingKey, string(r.Body))
	case <-time.After(wait):
		fmt.Println("no return")
	}
}

// An exchange bound to an exchange (RabbitMQ's e2e bindings): a fanout into a topic exchange into a queue.
func e2e(ch *amqp.Channel, prefix string) {
	in, topic := prefix+".in", prefix+".topic"
	must(ch.ExchangeDeclare(in, "fanout", false, false, false, false, nil))
	must(ch.ExchangeDeclare(topic, "topic", false, false, false, false, nil))
	must(ch.ExchangeBind(topic, "", in, false, nil))
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(err)
	must(ch.QueueBind(q.Name, "a.#", topic, false, nil))
	publish(ch, in, "a.b", false, text("routed"))
	publish(ch, in, "b.a", false, text("not routed"))
	publish(ch, in, "a", false, text("routed too"))
	first, second := getWithin(ch, q.Name), getWithin(ch, q.Name)
	fmt.Printf("got %s, %s; left %d\n", first.Body, second.Body, count(ch, q.Name))
	must(ch.ExchangeUnbind(topic, "", in, false, nil))
	publish(ch, in, "a.b", false, text("after unbind"))
	time.Sleep(100 * time.Millisecond)
	fmt.Println("after unbind", count(ch, q.Name))
	must(ch.ExchangeDelete(in, false, false))
	must(ch.ExchangeDelete(topic, false, false))
}

// Transactions: a rollback drops the publishes, a commit makes them visible.
func tx(ch *amqp.Channel) {
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(err)
	must(ch.Tx())
	for i := 0; i < 5; i++ {
		publish(ch, "", q.Name, false, text(fmt.Sprintf("r-%d", i)))
	}
	fmt.Println("before commit", count(ch, q.Name))
	must(ch.TxRollback())
	fmt.Println("after rollback", count(ch, q.Name))
	for i := 0; i < 5; i++ {
		publish(ch, "", q.Name, false, text(fmt.Sprintf("c-%d", i)))
	}
	must(ch.TxCommit())
	fmt.Println("after commit", count(ch, q.Name))
}

func closeOf(err error) string {
	var e *amqp.Error
	if !errors.As(err, &e) {
		return "not an amqp error: " + err.Error()
	}
	return fmt.Sprintf("%d %s", e.Code, e.Reason)
}

// Channel errors reach the client as RabbitMQ words them; the connection goes on.
func channelErrors(conn *amqp.Connection, ch *amqp.Channel, prefix string) {
	if _, err := ch.QueueDeclarePassive(prefix+".missing", false, false, false, false, nil); err != nil {
		fmt.Println("closed", closeOf(err))
	} else {
		fmt.Println("no error")
	}
	fmt.Println("channel open", !ch.IsClosed())
	again, err := conn.Channel()
	must(err)
	q, err := again.QueueDeclare(prefix+".x", false, true, false, false, nil)
	must(err)
	if _, err := again.QueueDeclare(q.Name, true, true, false, false, nil); err != nil {
		fmt.Println("closed", closeOf(err))
	} else {
		fmt.Println("no error")
	}
	third, err := conn.Channel()
	must(err)
	_, err = third.QueueDelete(q.Name, false, false, false)
	must(err)
	fmt.Println("connection open", !conn.IsClosed())
}

// A queue deleted under its consumer: the consumer hears basic.cancel (consumer_cancel_notify).
func cancel(conn *amqp.Connection, ch *amqp.Channel, prefix string) {
	q, err := ch.QueueDeclare(prefix+".doomed", false, false, false, false, nil)
	must(err)
	cancels := ch.NotifyCancel(make(chan string, 1))
	_, err = ch.Consume(q.Name, prefix+".tag", true, false, false, false, nil)
	must(err)
	other, err := conn.Channel()
	must(err)
	_, err = other.QueueDelete(q.Name, false, false, false)
	must(err)
	select {
	case tag := <-cancels:
		fmt.Println("cancelled by the broker", tag == prefix+".tag")
	case <-time.After(wait):
		fmt.Println("no cancel")
	}
}

// connection.blocked and unblocked: says "ready", publishes once told on stdin
// (the test has blocked publishers meanwhile), and reports each notification.
func blocked(conn *amqp.Connection, ch *amqp.Channel, prefix string) {
	q, err := ch.QueueDeclare(prefix+".q", false, true, false, false, nil)
	must(err)
	notes := conn.NotifyBlocked(make(chan amqp.Blocking, 2))
	fmt.Println("ready")
	_, err = bufio.NewReader(os.Stdin).ReadString('\n')
	must(err)
	publish(ch, "", q.Name, false, text("held"))
	for unblocked := false; !unblocked; {
		select {
		case b := <-notes:
			if b.Active {
				fmt.Println("blocked", b.Reason)
			} else {
				fmt.Println("unblocked")
				unblocked = true
			}
		case <-time.After(wait):
			fmt.Println("not unblocked")
			unblocked = true
		}
	}
	fmt.Println("count", count(ch, q.Name))
}

// A rejected message dead-lettered to another queue: its x-death header as the client reads it.
func deadLetter(ch *amqp.Channel, prefix string) {
	dlq, err := ch.QueueDeclare(prefix+".dlq", false, true, true, false, nil)
	must(err)
	q, err := ch.QueueDeclare(prefix+".work", false, true, true, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq.Name})
	must(err)
	publish(ch, "", q.Name, false, text("doomed"))
	must(getWithin(ch, q.Name).Reject(false))
	dead := getWithin(ch, dlq.Name)
	fmt.Println("dead-lettered", string(dead.Body), "to", dead.RoutingKey == dlq.Name)
	for _, death := range dead.Headers["x-death"].([]interface{}) {
		table := death.(amqp.Table)
		keys := make([]string, 0, len(table))
		for k := range table {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			value := strings.ReplaceAll(describe(table[k]), prefix, "P")
			if k == "time" {
				value = fmt.Sprintf("(%T)", table[k])
			}
			fmt.Println("x-death", k, "=", value)
		}
	}
	keys := make([]string, 0, len(dead.Headers))
	for k := range dead.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println("header", k)
	}
	must(dead.Ack(false))
}

// Takes one message another client published and prints its properties, headers sorted, each with its Go type.
func headers(ch *amqp.Channel, q string) {
	d := getWithin(ch, q)
	fmt.Println("body", string(d.Body))
	fmt.Println("content-type", d.ContentType, "priority", d.Priority, "correlation-id", d.CorrelationId, "delivery-mode", d.DeliveryMode)
	keys := make([]string, 0, len(d.Headers))
	for k := range d.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println("header", k, "=", describe(d.Headers[k]))
	}
	must(d.Ack(false))
}

func describe(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case []interface{}:
		parts := make([]string, len(x))
		for i, item := range x {
			parts[i] = describe(item)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case amqp.Table:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + describe(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprintf("%v (%T)", v, v)
	}
}
