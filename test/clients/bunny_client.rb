# Scenarios for warren run with Bunny (ruby-bunny), one per invocation.
#
# usage: ruby bunny_client.rb URL SCENARIO PREFIX [ARGS...]
# Prints one line per observation; the test asserts on stdout. Names are
# prefixed with PREFIX so that runs do not share queues or exchanges.
require "bunny"
require "set"
require "timeout"

url, scenario, prefix, *args = ARGV
$stdout.sync = true

conn = Bunny.new(url, automatically_recover: false, logger: Logger.new(nil))
conn.start
ch = conn.create_channel

# Pops (no-ack) until a body equal to `last`; returns [routing_key, body] pairs before it.
def drain(queue, last)
  got = []
  Timeout.timeout(5) do
    loop do
      info, _props, body = queue.pop
      if info.nil?
        sleep 0.02
        next
      end
      return got if body == last
      got << [info.routing_key, body]
    end
  end
end

case scenario
when "fanout"
  # one fanout exchange, two queues, both get Hello and World
  x = ch.fanout("#{prefix}.fanout", auto_delete: true)
  queues = 2.times.map { ch.queue("", exclusive: true).bind(x) }
  %w[Hello World END].each { |body| x.publish(body) }
  queues.each_with_index do |q, i|
    drain(q, "END").each { |_key, body| puts "q#{i + 1} #{body}" }
  end

when "topic"
  # *.stock.# matches usd.stock and eur.stock.db, not stock.nasdaq
  x = ch.topic("#{prefix}.topic", auto_delete: true)
  q = ch.queue("", exclusive: true).bind(x, routing_key: "*.stock.#")
  %w[usd.stock eur.stock.db stock.nasdaq end.stock.end].each { |key| x.publish(key, routing_key: key) }
  drain(q, "end.stock.end").each { |key, _body| puts "got #{key}" }

when "ack"
  # a subscriber with manual acks; nothing is left afterwards
  q = ch.queue("#{prefix}.ack")
  3.times { |i| ch.default_exchange.publish("m#{i}", routing_key: q.name) }
  ch.prefetch(1)
  done = Queue.new
  seen = []
  consumer = q.subscribe(manual_ack: true) do |info, _props, body|
    seen << "got #{body} redelivered=#{info.redelivered?}"
    ch.ack(info.delivery_tag)
    done << true if seen.size == 3
  end
  Timeout.timeout(5) { done.pop }
  consumer.cancel
  seen.each { |line| puts line }
  ch.close
  ch = conn.create_channel
  puts "remaining #{ch.queue_declare(q.name, passive: true).message_count}"
  ch.queue_delete(q.name)

when "get"
  # basic.get polling until the queue is empty
  q = ch.queue("#{prefix}.get")
  3.times { |i| ch.default_exchange.publish("g#{i}", routing_key: q.name) }
  # on one channel the declare-ok comes after the publishes are enqueued
  puts "count #{ch.queue_declare(q.name, passive: true).message_count}"
  loop do
    info, _props, body = q.pop(manual_ack: true)
    if info.nil?
      puts "empty"
      break
    end
    puts "got #{body}"
    ch.ack(info.delivery_tag)
  end
  q.delete

when "confirms"
  # publisher confirms: wait_for_confirms is true when every publish was acked
  q = ch.queue("#{prefix}.confirms")
  ch.confirm_select
  20.times { |i| ch.default_exchange.publish("c#{i}", routing_key: q.name) }
  ok = ch.wait_for_confirms
  puts "confirmed #{ok} nacked=#{ch.nacked_set.size}"
  puts "count #{q.message_count}"
  q.delete

when "return"
  # a mandatory publish with no route comes back through on_return
  returned = Queue.new
  x = ch.default_exchange
  x.on_return { |info, _props, body| returned << [info, body] }
  x.publish("lost", routing_key: "#{prefix}.nowhere", mandatory: true)
  info, body = Timeout.timeout(5) { returned.pop }
  puts "returned #{info.reply_code} #{info.reply_text} #{info.routing_key} #{body}"

when "consume"
  # consume ARGS[1] messages from queue ARGS[0], printing bodies, then ack them
  n = Integer(args[1])
  seen = Queue.new
  ch.queue(args[0], passive: true).subscribe(manual_ack: true) do |info, props, body|
    seen << "got #{body} #{props.content_type}"
    ch.ack(info.delivery_tag)
  end
  Timeout.timeout(10) { n.times { puts seen.pop } }

when "recover"
  # automatic recovery across a broker restart: numbered persistent messages to a
  # durable queue, a copy of each through amq.fanout to a server-named exclusive
  # queue, 500 before the restart and 500 after (a publish the restart cut off is
  # tried again, on a new channel: a recovered one waits for the lost publish's
  # confirm for ever); prints what each consumer missed once all 1,000 are confirmed
  recovering = { automatically_recover: true, network_recovery_interval: 0.1, recovery_attempts: nil, logger: Logger.new($stderr, level: Logger::WARN) }
  consumer = Bunny.new(url, **recovering).tap(&:start)
  publisher = Bunny.new(url, **recovering, continuation_timeout: 2000).tap(&:start)
  cch = consumer.create_channel
  cch.prefetch(20)
  q = cch.queue("#{prefix}.q", durable: true)
  copies = cch.queue("", exclusive: true).bind("amq.fanout")
  first_name = copies.name
  got = Set.new
  copied = Set.new
  q.subscribe(manual_ack: true) { |info, _props, body| got << Integer(body); cch.ack(info.delivery_tag) }
  copies.subscribe { |_info, _props, body| copied << Integer(body) }
  pch = nil
  retries = 0
  i = 0
  while i < 1000
    begin
      if pch.nil?
        pch = publisher.create_channel
        pch.confirm_select
      end
      pch.default_exchange.publish(i.to_s, routing_key: q.name, persistent: true)
      pch.exchange("amq.fanout").publish(i.to_s)
      raise "nacked" unless pch.wait_for_confirms
      i += 1
    rescue StandardError
      raise if (retries += 1) > 200
      sleep 0.05
      pch = nil
      next
    end
    next unless i == 500
    100.times { break if got.size >= 500 && copied.size >= 500; sleep 0.05 }
    puts "before the restart #{got.size} #{copied.size}"
    puts "ready"
    $stdin.gets
  end
  200.times { break if got.size >= 1000 && copied.size >= 1000; sleep 0.05 }
  puts "queue missing #{(0...1000).count { |n| !got.include?(n) }}, copies missing #{(0...1000).count { |n| !copied.include?(n) }}"
  puts "server-named queue declared again under a new name #{copies.name != first_name}"
  q.delete
  consumer.close
  publisher.close

when "tenant"
  # logged in as a non-default user on a non-default vhost: a round trip in
  # its own queue, then a declare its permissions refuse (403)
  q = ch.queue("#{prefix}.mine", auto_delete: true)
  5.times { |i| ch.default_exchange.publish("t#{i}", routing_key: q.name) }
  got = []
  Timeout.timeout(5) do
    while got.size < 5
      _info, _props, body = q.pop
      body.nil? ? sleep(0.02) : got << body
    end
  end
  puts "got #{got.join(" ")}"
  begin
    ch.queue("not-mine")
    puts "declared not-mine"
  rescue Bunny::AccessRefused => e
    puts "closed 403 #{e.message}"
  end

when "stream"
  # a stream read from x-stream-offset "first" and 3, as Bunny sends them
  q = ch.queue("#{prefix}.stream", durable: true, arguments: { "x-queue-type" => "stream" })
  ch.confirm_select
  6.times { |i| q.publish("s#{i}") }
  ch.wait_for_confirms
  ch.prefetch(10)
  ["first", 3].each do |offset|
    got = Queue.new
    consumer = q.subscribe(manual_ack: true, arguments: { "x-stream-offset" => offset }) do |info, props, body|
      got << "#{body}@#{props.headers["x-stream-offset"]}"
      ch.ack(info.delivery_tag)
    end
    seen = Array.new(offset == "first" ? 6 : 3) { Timeout.timeout(5) { got.pop } }
    consumer.cancel
    puts "#{offset} #{seen.join(" ")}"
  end
  puts "count #{q.message_count}"
  q.delete

else
  abort "unknown scenario #{scenario}"
end

conn.close
puts "done"
