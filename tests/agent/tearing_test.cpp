// The tearing test: SIGKILL the agent again and again while it checks a wrong
// PIN, restart it, and read the retry counter. A PIN check decrements and
// commits the counter before it compares, so:
//   - the counter never goes back up;
//   - every check whose answer reached the client consumed a try;
//   - a kill inside the check may consume a try without an answer (what a
//     smart card does), and the test counts those to show the window was hit.
// The token uses the configured real-cost KDF (scrypt by default), so a check
// lasts long enough to be killed in the middle.
#include <p11-kit/pkcs11.h>
#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "tests/agent/test_env.h"

using namespace vtoken;
using namespace vtoken::agent;
using wire::Json;
using Clock = std::chrono::steady_clock;

namespace {

using test::SecretBytes;

int TriesLeft(const test::TempXdg& xdg) {
  auto c = AgentClient::Connect(xdg.socket(), "tearing_test");
  REQUIRE(c);
  auto list = c->Call(Json{{"op", "token_list"}});
  REQUIRE(list);
  return (*list)["tokens"][0]["pin_tries_left"].get<int>();
}

// Sends a wrong-PIN login on a fresh connection and waits up to `wait` for
// the answer. Returns true when the answer arrived.
bool WrongLogin(const test::TempXdg& xdg, std::uint64_t slot, std::chrono::microseconds wait) {
  int fd = test::ConnectRaw(xdg.socket());
  REQUIRE(fd >= 0);
  REQUIRE(wire::WriteFrame(fd, Json{{"id", 1u}, {"op", "hello"}, {"version", 1}, {"client", "t"}, {"app", "t"}, {"pid", 1u}}));
  REQUIRE(wire::ReadFrame(fd));
  REQUIRE(wire::WriteFrame(fd, Json{{"id", 2u}, {"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", SecretBytes("999999")}}));
  pollfd p{fd, POLLIN, 0};
  const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
  const bool answered = ::poll(&p, 1, ms) == 1;
  if (answered) {
    auto reply = wire::ReadFrame(fd);
    REQUIRE(reply);
    REQUIRE(*reply);
    CHECK((**reply)["error"] == "CKR_PIN_INCORRECT");
  }
  ::close(fd);
  return answered;
}

}  // namespace

TEST_CASE("SIGKILL during a PIN check never gives a free try", "[tearing]") {
  test::TempXdg xdg("[token]\npin_retries = 15\n");
  int iterations = 40;
  if (const char* n = std::getenv("VTOKEN_TEARING_ITERATIONS")) iterations = std::atoi(n);

  auto agent = std::make_unique<test::AgentProcess>();
  REQUIRE(agent->Start(xdg.socket()));
  std::uint64_t slot;
  {
    auto c = AgentClient::Connect(xdg.socket(), "tearing_test");
    REQUIRE(c);
    auto created = c->Call(Json{{"op", "token_create"}, {"name", "tear"}, {"pin", SecretBytes("1234")}, {"puk", SecretBytes("12345678")}});
    REQUIRE(created);
    slot = (*created)["slot_id"].get<std::uint64_t>();
  }
  // How long one wrong-PIN check takes here.
  const auto t0 = Clock::now();
  REQUIRE(WrongLogin(xdg, slot, std::chrono::seconds(30)));
  const auto check_time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  WARN("one wrong-PIN check takes " << check_time.count() / 1000.0 << " ms");
  const auto max_delay = std::max<std::chrono::microseconds>(std::chrono::milliseconds(40), check_time * 3 / 2);

  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<long> delay(0, max_delay.count());
  int consumed = 0, answered = 0, killed_mid_check = 0;
  int before = TriesLeft(xdg);
  for (int i = 0; i < iterations; ++i) {
    if (before <= 2) {
      auto c = AgentClient::Connect(xdg.socket(), "tearing_test");
      REQUIRE(c);
      REQUIRE(c->Call(Json{{"op", "token_unblock"}, {"name", "tear"}, {"puk", SecretBytes("12345678")}, {"new_pin", SecretBytes("1234")}}));
      before = TriesLeft(xdg);
      REQUIRE(before == 15);
    }
    const bool got_answer = WrongLogin(xdg, slot, std::chrono::microseconds(delay(rng)));
    agent->Kill(SIGKILL);
    agent->Wait();
    agent = std::make_unique<test::AgentProcess>();
    REQUIRE(agent->Start(xdg.socket()));
    const int after = TriesLeft(xdg);
    INFO("iteration " << i << ": tries " << before << " -> " << after << (got_answer ? " (answered)" : " (killed)"));
    REQUIRE(after <= before);                      // never back up
    if (got_answer) REQUIRE(after == before - 1);  // an answer always costs a try
    REQUIRE(before - after <= 1);
    consumed += before - after;
    answered += got_answer;
    if (!got_answer && after == before - 1) ++killed_mid_check;
    before = after;
  }
  WARN(iterations << " kills: " << answered << " checks answered, " << killed_mid_check
                  << " killed after the counter was committed, " << consumed << " tries consumed");
  CHECK(consumed >= answered);
  CHECK(killed_mid_check > 0);  // the kills did land inside checks
}
