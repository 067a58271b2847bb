#pragma once
// The agent protocol without sockets, for Catch2 tests: Dispatcher::Handle
// over a registry in a temp XDG tree, connections that said hello, and the
// events the dispatcher sent, recorded.
#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tests/agent/test_env.h"
#include "tokend/dispatcher.h"

namespace vtoken::agent::test {

struct RecordingSink : EventSink {
  std::mutex mu;  // the cloud refresh thread broadcasts too
  std::vector<wire::Json> broadcast;
  std::vector<std::pair<std::uint64_t, wire::Json>> sent;
  void Broadcast(const wire::Json& e) override {
    std::lock_guard lock(mu);
    broadcast.push_back(e);
  }
  void SendTo(std::uint64_t id, const wire::Json& e) override {
    std::lock_guard lock(mu);
    sent.emplace_back(id, e);
  }
};

struct DispatcherFixture {
  TempXdg xdg;
  RecordingSink sink;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<Dispatcher> dispatcher;
  std::vector<std::unique_ptr<ConnectionState>> conns;
  std::uint64_t next_id = 1;

  explicit DispatcherFixture(DispatcherOptions options = {}) {
    auto r = Registry::Open(xdg.data(), TokenPolicy{});
    REQUIRE(r);
    registry = std::move(*r);
    dispatcher = std::make_unique<Dispatcher>(*registry, sink, std::move(options));
  }
  ~DispatcherFixture() {
    for (auto& c : conns) dispatcher->Disconnect(*c);
  }
  ConnectionState& Connect(bool hello = true, bool events = false) {
    conns.push_back(std::make_unique<ConnectionState>());
    auto& c = *conns.back();
    dispatcher->Connect(c);
    if (hello)
      REQUIRE(Ok(c, {{"op", "hello"}, {"version", 1u}, {"client", "test"}, {"app", "catch"}, {"pid", 1u}, {"events", events}}));
    return c;
  }
  wire::Json Call(ConnectionState& c, wire::Json request) {
    request["id"] = next_id++;
    wire::Json reply = dispatcher->Handle(c, request);
    REQUIRE(reply["id"] == request["id"]);
    return reply;
  }
  bool Ok(ConnectionState& c, wire::Json request) {
    wire::Json reply = Call(c, std::move(request));
    if (!reply["ok"].get<bool>()) UNSCOPED_INFO("error: " << reply.dump());
    return reply["ok"].get<bool>();
  }
  // "CKR_OK" or the CKR_* name of the error.
  std::string Rv(ConnectionState& c, wire::Json request) {
    wire::Json reply = Call(c, std::move(request));
    return reply["ok"].get<bool>() ? "CKR_OK" : reply["error"].get<std::string>();
  }
  // The slot's entry in the registry's snapshot, or null.
  wire::Json Slot(std::uint64_t slot_id) {
    for (const auto& s : registry->Snapshot())
      if (s["slot_id"] == slot_id) return s;
    return {};
  }
};

}  // namespace vtoken::agent::test
