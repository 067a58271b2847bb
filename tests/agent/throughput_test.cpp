// RSA-2048 signing throughput with one and two client threads (hidden test:
// run with `test_agent "[perf]"`). Two threads share one connection and
// pipeline, as a module with two signing threads does.
#include <p11-kit/pkcs11.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "tests/agent/test_env.h"

using namespace vtoken;
using namespace vtoken::agent;
using wire::Json;

TEST_CASE("RSA-2048 signatures scale to two client threads", "[.][perf]") {
  test::TempXdg xdg;
  test::AgentProcess agent;
  REQUIRE(agent.Start(xdg.socket()));
  auto c = AgentClient::Connect(xdg.socket(), "perf");
  REQUIRE(c);
  const std::string pin = "1234";
  auto pin_json = wire::Binary(std::span(reinterpret_cast<const std::uint8_t*>(pin.data()), pin.size()));
  auto created = c->Call(Json{{"op", "token_create"}, {"name", "perf"}, {"pin", pin_json}, {"puk", pin_json}});
  REQUIRE(created);
  const auto slot = (*created)["slot_id"].get<std::uint64_t>();
  REQUIRE(c->Call(Json{{"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", pin_json}}));
  wire::Bytes bits(sizeof(unsigned long));
  const unsigned long b2048 = 2048;
  std::memcpy(bits.data(), &b2048, sizeof b2048);
  const wire::Bytes yes{1};
  auto keys = c->Call(Json{{"op", "generate_key_pair"}, {"slot_id", slot}, {"mechanism", CKM_RSA_PKCS_KEY_PAIR_GEN},
                           {"public_attrs", wire::EncodeAttributes({{CKA_MODULUS_BITS, bits}, {CKA_TOKEN, yes}})},
                           {"private_attrs", wire::EncodeAttributes({{CKA_SIGN, yes}, {CKA_TOKEN, yes}, {CKA_PRIVATE, yes}})}});
  REQUIRE(keys);
  const auto oid = (*keys)["private"]["oid"].get<std::uint64_t>();
  const int fd = c->fd();
  std::mutex write_mu;
  constexpr int kPerThread = 200;
  auto run = [&](int threads) {
    std::atomic<int> outstanding{0};
    const auto t0 = std::chrono::steady_clock::now();
    std::thread reader([&] {
      for (int got = 0; got < threads * kPerThread;) {
        auto frame = wire::ReadFrame(fd);
        if (!frame || !*frame) return;
        if ((**frame).contains("id")) {
          ++got;
          --outstanding;
        }
      }
    });
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t)
      senders.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          while (outstanding.load() >= threads) std::this_thread::yield();  // each thread: one request in flight
          ++outstanding;
          std::lock_guard lock(write_mu);
          (void)wire::WriteFrame(fd, Json{{"id", 1000000u + t * 10000u + i}, {"op", "sign"}, {"slot_id", slot}, {"oid", oid},
                                          {"mechanism", CKM_RSA_PKCS}, {"data", wire::Binary(wire::Bytes(51, 7))}});
        }
      });
    for (auto& s : senders) s.join();
    reader.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return threads * kPerThread / s;
  };
  run(1);  // warm-up: the first signature decrypts the key
  const double one = run(1), two = run(2);
  WARN("RSA-2048 signatures/s: 1 thread " << one << ", 2 threads " << two << " (x" << two / one << ")");
  CHECK(two > one * 1.3);
}
