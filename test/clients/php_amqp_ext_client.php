<?php
// The php-amqp extension 1.11 (Debian's php-amqp, on rabbitmq-c: what Symfony
// Messenger's AMQP transport uses) against a broker:
//   php php_amqp_ext_client.php URL PREFIX SCENARIO
// Prints one line per check; the expected lines are what RabbitMQ 3.10.8 printed.

require_once __DIR__ . '/php_common.php';

[, $url, $prefix, $scenario] = $argv;
$u = parse_url($url);
$conn = new AMQPConnection(['host' => $u['host'], 'port' => $u['port'], 'login' => urldecode($u['user']), 'password' => urldecode($u['pass']), 'vhost' => '/']);
$conn->connect();
$ch = new AMQPChannel($conn);
$default = new AMQPExchange($ch);

switch ($scenario) {
case 'confirms': // 2,000 numbered persistent publishes, each confirmed; consumed with acks, each once
    $q = new AMQPQueue($ch);
    $q->setName("$prefix.q");
    $q->setFlags(AMQP_DURABLE | AMQP_AUTODELETE);
    $q->declareQueue();
    $ch->confirmSelect();
    $acked = 0;
    $ch->setConfirmCallback(function ($tag, $multiple) use (&$acked) { $acked = $tag; return $acked < 2000; }, function () { say('nacked'); return false; });
    for ($i = 0; $i < 2000; $i++) $default->publish((string) $i, "$prefix.q", AMQP_NOPARAM, ['delivery_mode' => 2]);
    $ch->waitForConfirm(10);
    say('confirmed', $acked);
    $ch->qos(0, 50);
    $seen = [];
    $q->consume(function (AMQPEnvelope $e, AMQPQueue $q) use (&$seen) {
        $seen[] = (int) $e->getBody();
        $q->ack($e->getDeliveryTag());
        return count($seen) < 2000;
    });
    sort($seen);
    say('each once', $seen === range(0, 1999) ? 'true' : 'false');
    break;

case 'errors': // channel errors as exceptions with RabbitMQ's codes and texts; the connection goes on
    $q = new AMQPQueue($ch);
    $q->setName("$prefix.missing");
    $q->setFlags(AMQP_PASSIVE);
    try {
        $q->declareQueue();
    } catch (AMQPQueueException $e) {
        say('passive', $e->getCode(), named($e->getMessage()));
    }
    $ch = new AMQPChannel($conn);
    $x = new AMQPExchange($ch);
    $x->setName("$prefix.x");
    $x->setType(AMQP_EX_TYPE_DIRECT);
    $x->setFlags(AMQP_AUTODELETE);
    $x->declareExchange();
    $x->setType(AMQP_EX_TYPE_FANOUT);
    try {
        $x->declareExchange();
    } catch (AMQPExchangeException $e) {
        say('redeclare', $e->getCode(), named($e->getMessage()));
    }
    $ch = new AMQPChannel($conn);
    $q = new AMQPQueue($ch);
    $q->setFlags(AMQP_EXCLUSIVE);
    $q->declareQueue();
    say('server-named', strpos($q->getName(), 'amq.gen-') === 0 ? 'true' : 'false');
    break;

case 'dead-letter': // a rejected message dead-lettered with x-death; headers of several types as this client reads them
    $dlx = new AMQPExchange($ch);
    $dlx->setName("$prefix.dlx");
    $dlx->setType(AMQP_EX_TYPE_FANOUT);
    $dlx->setFlags(AMQP_AUTODELETE);
    $dlx->declareExchange();
    $dead = new AMQPQueue($ch);
    $dead->setName("$prefix.dead");
    $dead->setFlags(AMQP_AUTODELETE);
    $dead->declareQueue();
    $dead->bind("$prefix.dlx");
    $src = new AMQPQueue($ch);
    $src->setName("$prefix.src");
    $src->setArguments(['x-dead-letter-exchange' => "$prefix.dlx", 'x-max-priority' => 5]);
    $src->declareQueue();
    $default->publish('héllo', "$prefix.src", AMQP_NOPARAM, ['priority' => 3, 'headers' => ['int' => 5, 'big' => 2 ** 40, 'str' => 'ü€', 'yes' => true, 'list' => [1, 'two']]]);
    $m = false;
    while ($m === false) $m = $src->get();
    $src->reject($m->getDeliveryTag());
    $d = false;
    for ($i = 0; $i < 100 && $d === false; $i++) { $d = $dead->get(AMQP_AUTOACK); if ($d === false) usleep(20000); }
    $h = $d->getHeaders();
    sayHeaders($h);
    say('body', $d->getBody(), 'priority', $d->getPriority(), 'redelivered', $d->isRedelivery() ? 'true' : 'false');
    $src->delete();
    break;
}
$conn->disconnect();
