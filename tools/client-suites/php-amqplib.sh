#!/usr/bin/env bash
# php-amqplib's functional tests (github.com/php-amqplib/php-amqplib v3.5.3, Debian's
# php-amqplib) with Debian's phpunit. The broker should also listen for amqps on 5671 with
# the suite's certificates (printed below); composer's autoloader and the one HTTP client
# the tests use are shims. Toxiproxy tests skip themselves.
. "$(dirname "$0")/common.sh"
checkout php-amqplib+php-amqplib bccaaf8ef8bcf18b4ab41e645e92537752b887bd "$work/php-amqplib" # v3.5.3
cd "$work/php-amqplib"
echo "certificates: --tls-cert $PWD/tests/certs/server_certificate.pem --tls-key $PWD/tests/certs/server_key.pem --tls-ca $PWD/tests/certs/ca_certificate.pem"
mkdir -p vendor/Httpful/Exception
cp "$here/shims/httpful-request.php" vendor/Httpful/Request.php
echo '<?php namespace Httpful\Exception; class ConnectionErrorException extends \Exception {}' > vendor/Httpful/Exception/ConnectionErrorException.php
cat > vendor/autoload.php <<'PHP'
<?php
require_once '/usr/share/php/phpseclib3/autoload.php';
spl_autoload_register(function ($class) {
    foreach (['Httpful\\' => __DIR__ . '/Httpful/', 'PhpAmqpLib\\Tests\\' => __DIR__ . '/../tests/', 'PhpAmqpLib\\' => __DIR__ . '/../PhpAmqpLib/'] as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) { require $file; return; }
        }
    }
});
PHP
phpunit --no-logging --no-coverage --testsuite 'Functional Tests' --log-junit "$work/junit.xml" > "$work/output.txt" 2>&1 || true
grep -E '^(Tests:|OK)' "$work/output.txt" || true
python3 - "$work/junit.xml" > "$work/passed.txt" <<'PY'
import sys, xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).iter('testcase'):
    if not any(child.tag in ('failure', 'error', 'skipped') for child in case):
        print(case.get('class') + '::' + case.get('name'))
PY
report php-amqplib
