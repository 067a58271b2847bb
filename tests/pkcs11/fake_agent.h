#pragma once
// An in-process stand-in for vtokend speaking docs/agent-protocol.md, so the
// module's PKCS#11 behaviour can be tested end to end without the real agent.
// It holds one initialized emulated token (slot 1: user PIN "1234", SO PIN
// "12345678", an RSA-2048 and an EC P-256 key pair, private keys with
// CKA_PRIVATE) and the free slot (2). It serves each request on its own
// thread (so pipelined requests really run in parallel) and records the ops.
// It offers lanes (unless told not to), without the real agent's same-process
// check.
#include <p11-kit/pkcs11.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/ossl.h"
#include "common/wire.h"

namespace vtoken::pkcs11::test {

class FakeAgent {
 public:
  explicit FakeAgent(std::filesystem::path socket);
  ~FakeAgent();

  // Token presence of slot 1 (pushes a `slots` event to every connection).
  void SetPresent(bool present);
  // Drops every connection and stops listening (a crashed agent).
  void Crash();
  // Listens again on the same socket (the agent came back).
  void Restart();

  // Whether hello offers lanes (docs/agent-protocol.md): its reply carries
  // the connection id. A lane's requests use its application connection's
  // logins; Count("lane") counts lane hellos.
  std::atomic<bool> offer_lanes{true};
  std::atomic<int> sign_delay_ms{0};
  std::atomic<bool> always_authenticate{false};
  int Count(const std::string& op);
  int max_parallel_signs() const { return max_parallel_.load(); }
  // Signatures and decryptions whose sign_delay_ms has run out (their reply
  // follows).
  int delays_over() const { return delays_over_.load(); }
  int hellos() { return Count("hello") - Count("lane"); }  // application connections

 private:
  struct Key;
  struct Conn;
  void Listen();
  void AcceptLoop();
  void Serve(std::shared_ptr<Conn> c);
  wire::Json Handle(Conn& c, const wire::Json& req);
  wire::Json SlotsJson();
  void Broadcast(const wire::Json& event);
  wire::Json ObjectJson(std::uint64_t oid);
  std::uint64_t AddKeyPair(ossl::PKey key, CK_SLOT_ID slot, const wire::Bytes& id, bool token);

  std::filesystem::path socket_;
  int listen_fd_ = -1;
  std::thread accept_;
  std::atomic<bool> stop_{false};

  std::mutex mutex_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::map<std::string, int> counts_;
  bool present_ = true;
  bool free_initialized_ = false;
  std::uint64_t generation_ = 1;
  std::uint64_t next_oid_ = 1;
  std::uint64_t next_conn_id_ = 0;
  struct Obj {
    CK_SLOT_ID slot;
    wire::Attributes attrs;
    std::vector<CK_ATTRIBUTE_TYPE> sensitive;
    std::shared_ptr<EVP_PKEY> key;  // private keys only
  };
  std::map<std::uint64_t, Obj> objects_;
  std::atomic<int> parallel_{0};
  std::atomic<int> max_parallel_{0};
  std::atomic<int> delays_over_{0};
};

}  // namespace vtoken::pkcs11::test
