# Scenarios for warren run with the EventMachine-based amqp gem (ruby-amqp).
#
# usage: ruby amqp_gem_client.rb URL SCENARIO PREFIX
# Prints one line per observation; the test asserts on stdout.
require "amqp"

url, scenario, prefix = ARGV
$stdout.sync = true

def finish(conn)
  conn.close do
    puts "done"
    EventMachine.stop
  end
end

EventMachine.run do
  EventMachine.add_timer(10) { abort "timed out" }
  AMQP.connect(url) do |conn|
    AMQP::Channel.new(conn) do |ch|
      case scenario
      when "fanout"
        # one fanout exchange, two queues, both get Hello and World
        x = ch.fanout("#{prefix}.fanout", auto_delete: true)
        lines = []
        ended = 0
        on_message = lambda do |i, body|
          next lines << "q#{i} #{body}" unless body == "END"
          ended += 1
          next unless ended == 2
          lines.sort.each { |l| puts l }
          finish(conn)
        end
        # declare, bind and subscribe both queues, one after the other; then publish
        ch.queue("", exclusive: true) do |q1|
          q1.bind(x) do
            q1.subscribe { |_meta, body| on_message.call(1, body) }
            ch.queue("", exclusive: true) do |q2|
              q2.bind(x) do
                q2.subscribe { |_meta, body| on_message.call(2, body) }
                %w[Hello World END].each { |body| x.publish(body) }
              end
            end
          end
        end

      when "topic"
        # *.stock.# matches usd.stock and eur.stock.db, not stock.nasdaq
        x = ch.topic("#{prefix}.topic", auto_delete: true)
        ch.queue("", exclusive: true) do |q|
          q.bind(x, routing_key: "*.stock.#") do
            q.subscribe do |meta, _body|
              if meta.routing_key == "end.stock.end"
                finish(conn)
              else
                puts "got #{meta.routing_key}"
              end
            end
            %w[usd.stock eur.stock.db stock.nasdaq end.stock.end].each { |key| x.publish(key, routing_key: key) }
          end
        end

      when "get"
        # basic.get polling until the queue is empty
        ch.queue("#{prefix}.get", auto_delete: false) do |q|
          3.times { |i| ch.default_exchange.publish("g#{i}", routing_key: q.name) }
          poll = proc do
            q.pop do |meta, body|
              if body.nil?
                puts "empty"
                q.delete { finish(conn) }
              else
                puts "got #{body}"
                poll.call
              end
            end
          end
          q.status { |count, _consumers| puts "count #{count}"; poll.call }
        end

      else
        abort "unknown scenario #{scenario}"
      end
    end
  end
end
