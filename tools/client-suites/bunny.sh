#!/usr/bin/env bash
# bunny's integration specs (github.com/ruby-amqp/bunny 2.19.0, Debian's ruby-bunny), run
# with Debian's ruby-rspec; the vhost and users they expect are made over the management
# API; the recovery specs' HTTP client (a gem Debian lacks) is shims/rabbitmq-http-client.rb.
# Left out: TLS and toxiproxy specs (their own servers).
. "$(dirname "$0")/common.sh"
checkout ruby-amqp+bunny c2b1b38020ea1c36c6876737852aeed1b9a8d7fb "$work/bunny" # 2.19.0
mkdir -p "$work/shim/rabbitmq/http" && cp "$here/shims/rabbitmq-http-client.rb" "$work/shim/rabbitmq/http/client.rb"
mgmt_put vhosts/bunny_testbed '{}'
mgmt_put users/bunny_gem '{"password":"bunny_password","tags":""}'
mgmt_put users/bunny_reader '{"password":"reader_password","tags":""}'
mgmt_put permissions/bunny_testbed/bunny_gem '{"configure":".*","write":".*","read":".*"}'
mgmt_put permissions/bunny_testbed/guest '{"configure":".*","write":".*","read":".*"}'
mgmt_put permissions/bunny_testbed/bunny_reader '{"configure":"^---$","write":"^---$","read":".*"}'
cd "$work/bunny"
sed -i '/^require .bundler.$/d; /^Bundler.require/d' spec/spec_helper.rb
specs=$(ls spec/higher_level_api/integration/*_spec.rb spec/lower_level_api/integration/*_spec.rb spec/issues/*_spec.rb | grep -v 'toxiproxy\|tls_connection')
rspec -I lib -I "$work/shim" --format progress --format json --out "$work/result.json" $specs > "$work/output.txt" 2>&1 || true
grep -E 'examples?, ' "$work/output.txt" || true
ruby -rjson -e 'JSON.parse(File.read(ARGV[0]))["examples"].each { |e| puts e["id"] if e["status"] == "passed" }' "$work/result.json" > "$work/passed.txt"
report bunny
