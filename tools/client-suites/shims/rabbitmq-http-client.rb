# A stand-in for the rabbitmq_http_api_client gem: only what bunny's recovery spec calls.
require "net/http"
require "json"
require "uri"
module Faraday
  class ResourceNotFound < StandardError; end
end
class MashLike < Hash
  def method_missing(name, *args) = key?(name.to_s) ? self[name.to_s] : super
  def respond_to_missing?(name, priv = false) = key?(name.to_s) || super
end
module RabbitMQ
  module HTTP
    class Client
      def initialize(endpoint, opts = {})
        @base = URI(endpoint)
      end
      def get(path)
        req = Net::HTTP::Get.new(URI.join(@base, path)); req.basic_auth("guest", "guest")
        JSON.parse(Net::HTTP.start(@base.host, @base.port) { |h| h.request(req) }.body, object_class: MashLike)
      end
      def list_exchanges(vhost = nil) = get(vhost ? "/api/exchanges/#{URI.encode_www_form_component(vhost)}" : "/api/exchanges")
      def list_connections = get("/api/connections")
      def list_channels = get("/api/channels")
      def list_queues(vhost = nil) = get(vhost ? "/api/queues/#{URI.encode_www_form_component(vhost)}" : "/api/queues")
      def close_connection(name)
        req = Net::HTTP::Delete.new(URI.join(@base, "/api/connections/#{URI.encode_www_form_component(name).gsub('+', '%20')}")); req.basic_auth("guest", "guest")
        Net::HTTP.start(@base.host, @base.port) { |h| h.request(req) }
      end
    end
  end
end
