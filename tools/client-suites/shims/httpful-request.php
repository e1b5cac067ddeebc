<?php
// Stand-in for nategood/httpful: only what php-amqplib's functional tests call.
namespace Httpful;
class Response { public $code; public $body; public function __construct($code, $body) { $this->code = $code; $this->body = $body; } }
class Request {
    private $headers = ['Content-Type: application/json'];
    private $timeout = 10;
    private function __construct(private string $method, private string $uri, private ?string $payload = null) {}
    public static function put($uri, $payload = null, $mime = null) { return new self('PUT', $uri, $payload); }
    public static function post($uri, $payload = null, $mime = null) { return new self('POST', $uri, $payload); }
    public static function delete($uri, $mime = null) { return new self('DELETE', $uri); }
    public static function get($uri, $mime = null) { return new self('GET', $uri); }
    public function expectsJson() { return $this; }
    public function whenError($f) { return $this; }
    public function timeout($s) { $this->timeout = $s; return $this; }
    public function basicAuth($u, $p) { $this->headers[] = 'Authorization: Basic ' . base64_encode("$u:$p"); return $this; }
    public function send() {
        $ctx = stream_context_create(['http' => ['method' => $this->method, 'header' => implode("\r\n", $this->headers), 'content' => $this->payload ?? '', 'ignore_errors' => true, 'timeout' => $this->timeout]]);
        $uri = preg_replace("#^https://([^/:]+):15671/#", "http://\\1:15672/", $this->uri); // warren serves management over HTTP only
        $body = @file_get_contents($uri, false, $ctx);
        if ($body === false) throw new Exception\ConnectionErrorException("cannot reach {$this->uri}");
        preg_match('#HTTP/\S+ (\d+)#', $http_response_header[0], $m);
        return new Response((int)$m[1], $body);
    }
}
