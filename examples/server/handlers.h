// Request handlers: one per API key (handle_*.cc), behind dispatch().
//
// dispatch() runs on the I/O thread in the order requests arrive on each connection.
// Produce is decoded there and its batches pushed to the partitions' append queues at once
// (that is what keeps a connection's batches in order); every other request runs on the
// request pool. A request's respond() is called exactly once, from any thread; the network
// layer sends the replies of a connection in request order.
//
// Thread-safety: dispatch() from one thread; the handlers it starts run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker.h"
#include "codec/messages.h"
#include "fetch_waiters.h"
#include "group_service.h"
#include "work_pool.h"

namespace samsa_server {

struct Reply {
  enum class Kind : std::uint8_t { response, none, close };
  Kind kind = Kind::none;
  Response response;
  std::string why;  // for close: logged
  static Reply of(Response r) { return {Kind::response, std::move(r), {}}; }
  static Reply nothing() { return {Kind::none, {}, {}}; }
  static Reply close(std::string why) { return {Kind::close, {}, std::move(why)}; }
};

struct Request {
  RequestHeader header;
  std::shared_ptr<std::vector<std::byte>> frame;  // without the size prefix
  std::function<void(Reply)> respond;
  std::string client_ip;  // the peer's address ("127.0.0.1"); empty when unknown
  // A reader over the body (after the header).
  Reader body() const { return Reader(MutableByteSpan(*frame).subspan(header.body_offset)); }
};

struct ServerIdentity {
  std::int32_t node_id = 0;
  std::string host;  // advertised
  std::int32_t port = 0;
  std::string cluster_id = "samsa";
};

class Handlers {
 public:
  Handlers(Broker& broker, WorkPool& request_pool, FetchWaiters& waiters, ServerIdentity id,
           GroupService* groups = nullptr)
      : broker_(broker),
        pool_(request_pool),
        waiters_(waiters),
        id_(std::move(id)),
        groups_(groups) {}

  // Set before serving (the port is known only once the socket is bound).
  void set_identity(ServerIdentity id) { id_ = std::move(id); }

  void dispatch(Request request);

  // Handlers that answer at once (public for the protocol tests).
  Reply api_versions(const Request& request);
  Reply metadata(const Request& request);
  Reply list_offsets(const Request& request);
  Reply init_producer_id(const Request& request);
  Reply find_coordinator(const Request& request);
  Reply create_topics(const Request& request);     // handle_admin.cc
  Reply describe_configs(const Request& request);  // handle_admin.cc
  // Consumer groups (handle_group.cc); the server refuses them without a GroupService.
  Reply heartbeat(const Request& request);
  Reply leave_group(const Request& request);
  Reply offset_fetch(const Request& request);
  Reply list_groups(const Request& request);
  Reply describe_groups(const Request& request);
  // Answered later, through request->respond.
  void join_group(const std::shared_ptr<Request>& request);
  void sync_group(const std::shared_ptr<Request>& request);
  void offset_commit(const std::shared_ptr<Request>& request);
  void delete_groups(const std::shared_ptr<Request>& request);
  void offset_delete(const std::shared_ptr<Request>& request);

 private:
  struct FetchState;
  void produce(Request request);
  void fetch_start(Request request);
  void fetch_attempt(const std::shared_ptr<FetchState>& state, bool timed_out);

  Broker& broker_;
  WorkPool& pool_;
  FetchWaiters& waiters_;
  ServerIdentity id_;
  GroupService* groups_;
};

// Kafka's error code for a failed append (Partition::append's status).
std::int16_t produce_error_code(const samsa::Status& status);

}  // namespace samsa_server
