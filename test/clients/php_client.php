<?php
// php-amqplib 3.5 (Debian's php-amqplib, pure PHP) against a broker:
//   php php_client.php URL PREFIX SCENARIO
// Prints one line per check; the expected lines are what RabbitMQ 3.10.8 printed.
require_once '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Exception\AMQPProtocolChannelException;
use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPTable;

require_once __DIR__ . '/php_common.php';

[, $url, $prefix, $scenario] = $argv;
$u = parse_url($url);
$conn = new AMQPStreamConnection($u['host'], $u['port'], urldecode($u['user']), urldecode($u['pass']), '/');
$ch = $conn->channel();

switch ($scenario) {
case 'confirms': // 2,000 numbered persistent publishes, each confirmed; consumed with acks, each once
    $ch->queue_declare("$prefix.q", false, true, false, true);
    $ch->confirm_select();
    $acked = 0; $nacked = 0;
    $ch->set_ack_handler(function () use (&$acked) { $acked++; });
    $ch->set_nack_handler(function () use (&$nacked) { $nacked++; });
    for ($i = 0; $i < 2000; $i++) {
        $ch->basic_publish(new AMQPMessage((string) $i, ['delivery_mode' => AMQPMessage::DELIVERY_MODE_PERSISTENT]), '', "$prefix.q");
    }
    $ch->wait_for_pending_acks_returns(10);
    say('confirmed', $acked, 'nacked', $nacked);
    $ch->basic_qos(0, 50, false);
    $seen = [];
    $ch->basic_consume("$prefix.q", '', false, false, false, false, function ($m) use (&$seen) {
        $seen[] = (int) $m->getBody();
        $m->ack();
    });
    while (count($seen) < 2000) $ch->wait(null, false, 10);
    sort($seen);
    say('each once', $seen === range(0, 1999) ? 'true' : 'false');
    break;

case 'returns': // a mandatory publish nobody takes comes back with 312 NO_ROUTE
    $ch->set_return_listener(function ($code, $text, $exchange, $key, $m) {
        say('returned', $code, $text, $exchange === '' ? '(default)' : $exchange, named($key), $m->getBody());
    });
    $ch->basic_publish(new AMQPMessage('lost'), '', "$prefix.nowhere", true);
    $ch->wait(null, false, 5);
    break;

case 'errors': // channel errors as exceptions with RabbitMQ's codes and texts; the connection goes on
    try {
        $ch->queue_declare("$prefix.missing", true);
    } catch (AMQPProtocolChannelException $e) {
        say('passive', $e->getCode(), named($e->getMessage()));
    }
    $ch = $conn->channel();
    $ch->exchange_declare("$prefix.x", 'direct', false, false, true);
    try {
        $ch->exchange_declare("$prefix.x", 'fanout', false, false, true);
    } catch (AMQPProtocolChannelException $e) {
        say('redeclare', $e->getCode(), named($e->getMessage()));
    }
    $ch = $conn->channel();
    try {
        $ch->queue_bind("$prefix.none", "$prefix.x");
    } catch (AMQPProtocolChannelException $e) {
        say('bind', $e->getCode(), named($e->getMessage()));
    }
    $ch = $conn->channel();
    [$q] = $ch->queue_declare('', false, false, true, true);
    say('server-named', strpos($q, 'amq.gen-') === 0 ? 'true' : 'false');
    break;

case 'headers': // a table of many types, and x-death from a rejected message, as this client reads them
    $ch->exchange_declare("$prefix.dlx", 'fanout', false, false, true);
    $ch->queue_declare("$prefix.dead", false, false, false, true);
    $ch->queue_bind("$prefix.dead", "$prefix.dlx");
    $ch->queue_declare("$prefix.src", false, false, false, true, false, new AMQPTable(['x-dead-letter-exchange' => "$prefix.dlx"]));
    $headers = new AMQPTable(['int' => 5, 'big' => 2 ** 40, 'neg' => -70000, 'frac' => 1.5, 'str' => 'ü€', 'yes' => true,
        'nested' => new AMQPTable(['a' => 1]), 'list' => [1, 'two', false]]);
    $ch->basic_publish(new AMQPMessage('héllo', ['application_headers' => $headers, 'priority' => 3, 'correlation_id' => 'c-1']), '', "$prefix.src");
    $m = null;
    while ($m === null) $m = $ch->basic_get("$prefix.src");
    $m->reject(false);
    $d = null;
    for ($i = 0; $i < 100 && $d === null; $i++) { $d = $ch->basic_get("$prefix.dead", true); if ($d === null) usleep(20000); }
    $h = $d->get('application_headers')->getNativeData();
    sayHeaders($h);
    say('body', $d->getBody(), 'priority', $d->get('priority'), 'correlation', $d->get('correlation_id'));
    break;

case 'tx': // rollback drops, commit delivers; a nack'd get comes back redelivered
    [$q] = $ch->queue_declare("$prefix.tx", false, false, false, true);
    $ch->tx_select();
    for ($i = 0; $i < 3; $i++) $ch->basic_publish(new AMQPMessage('no'), '', $q);
    $ch->tx_rollback();
    for ($i = 0; $i < 4; $i++) $ch->basic_publish(new AMQPMessage('yes'), '', $q);
    $ch->tx_commit();
    [, $count] = $ch->queue_declare($q, true);
    say('committed', $count);
    $ch2 = $conn->channel();
    $m = $ch2->basic_get($q);
    $m->nack(true);
    $again = $ch2->basic_get($q);
    say('requeued', $again->getBody(), 'redelivered', $again->isRedelivered() ? 'true' : 'false', 'left', $again->getMessageCount());
    break;
}
$conn->close();
