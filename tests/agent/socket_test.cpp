// The real vtokend on a temp XDG environment: hostile frames close only the
// connection that sent them; single instance; stale sockets; SIGTERM; events;
// pipelined requests; lanes; loopback TCP admission. (The SO_PEERCRED uid check cannot be tested as root,
// where the tests run: a different uid needs a second account.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <p11-kit/pkcs11.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "tests/agent/test_env.h"

using namespace vtoken;
using namespace vtoken::agent;
using wire::Json;

namespace {

using test::SecretBytes;

AgentClient Client(const test::TempXdg& xdg, bool events = false) {
  auto c = AgentClient::Connect(xdg.socket(), "socket_test", events);
  REQUIRE(c);
  return std::move(*c);
}

bool Works(AgentClient& c) { return c.Call(Json{{"op", "slots"}}).has_value(); }

// One request on a raw connection; events are skipped.
Json RawCall(int fd, const Json& request) {
  REQUIRE(wire::WriteFrame(fd, request));
  for (;;) {
    auto frame = wire::ReadFrame(fd);
    REQUIRE(frame);
    REQUIRE(*frame);
    if ((**frame).contains("id")) return **frame;
  }
}

// A new emulated token (user PIN 1234); its slot.
std::uint64_t CreateToken(AgentClient& admin, const char* name) {
  auto created = admin.Call(Json{{"op", "token_create"}, {"name", name}, {"pin", SecretBytes("1234")}, {"puk", SecretBytes("12345678")}});
  REQUIRE(created);
  return (*created)["slot_id"].get<std::uint64_t>();
}

// On a raw connection past hello: the user logs in to `slot` and makes a
// P-256 key pair there; the private key's oid.
std::uint64_t LoginAndMakeP256Key(int fd, std::uint64_t slot) {
  REQUIRE(RawCall(fd, Json{{"id", 2u}, {"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", SecretBytes("1234")}})["ok"] == true);
  const wire::Bytes p256{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  const wire::Bytes yes{1};
  Json keys = RawCall(fd, Json{{"id", 3u}, {"op", "generate_key_pair"}, {"slot_id", slot}, {"mechanism", CKM_EC_KEY_PAIR_GEN},
                               {"public_attrs", wire::EncodeAttributes({{CKA_EC_PARAMS, p256}, {CKA_TOKEN, yes}})},
                               {"private_attrs", wire::EncodeAttributes({{CKA_SIGN, yes}, {CKA_TOKEN, yes}, {CKA_PRIVATE, yes}})}});
  REQUIRE(keys["ok"] == true);
  return keys["private"]["oid"].get<std::uint64_t>();
}

int HelloedRaw(const test::TempXdg& xdg) {
  int fd = test::ConnectRaw(xdg.socket());
  REQUIRE(fd >= 0);
  REQUIRE(wire::WriteFrame(fd, Json{{"id", 1u}, {"op", "hello"}, {"version", 1}, {"client", "raw"}, {"app", "t"}, {"pid", 1u}}));
  auto reply = wire::ReadFrame(fd);
  REQUIRE(reply);
  REQUIRE(*reply);
  REQUIRE((**reply)["ok"] == true);
  return fd;
}

}  // namespace

TEST_CASE("hostile frames close only their own connection", "[socket]") {
  test::TempXdg xdg;
  test::AgentProcess agent;
  REQUIRE(agent.Start(xdg.socket()));
  AgentClient good = Client(xdg);
  REQUIRE(Works(good));

  SECTION("garbage bytes") {
    int fd = HelloedRaw(xdg);
    const char garbage[] = "\x00\x00\x00\x05\xff\xff\xff\xff\xff";
    REQUIRE(test::SendAll(fd, garbage, 9));
    CHECK(test::ClosedByPeer(fd));
    ::close(fd);
  }
  SECTION("garbage before hello") {
    int fd = test::ConnectRaw(xdg.socket());
    REQUIRE(test::SendAll(fd, "GET / HTTP/1.1\r\n\r\n", 18));  // "GET " is a 1.2 GB length
    CHECK(test::ClosedByPeer(fd));
    ::close(fd);
  }
  SECTION("truncated frame") {
    int fd = HelloedRaw(xdg);
    wire::Bytes frame = wire::EncodeFrame(Json{{"id", 2u}, {"op", "slots"}});
    REQUIRE(test::SendAll(fd, frame.data(), frame.size() - 3));
    ::shutdown(fd, SHUT_WR);
    CHECK(test::ClosedByPeer(fd));
    ::close(fd);
  }
  SECTION("oversized length") {
    int fd = HelloedRaw(xdg);
    const unsigned char header[] = {0x00, 0x10, 0x00, 0x01};  // 1 MiB + 1
    REQUIRE(test::SendAll(fd, header, 4));
    CHECK(test::ClosedByPeer(fd));
    ::close(fd);
  }
  SECTION("CBOR that is not a map") {
    int fd = HelloedRaw(xdg);
    wire::Bytes cbor = Json::to_cbor(Json::array({1, 2, 3}));
    wire::Bytes frame{0, 0, 0, static_cast<std::uint8_t>(cbor.size())};
    frame.insert(frame.end(), cbor.begin(), cbor.end());
    REQUIRE(test::SendAll(fd, frame.data(), frame.size()));
    CHECK(test::ClosedByPeer(fd));
    ::close(fd);
  }
  SECTION("a map declaring over 2^63 entries (found by fuzzing: it used to kill the agent)") {
    int fd = HelloedRaw(xdg);
    const unsigned char frame[] = {0, 0, 0, 12, 0xa1, 0x61, 'a', 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb};
    REQUIRE(test::SendAll(fd, frame, sizeof frame));
    CHECK(test::ClosedByPeer(fd));
    ::close(fd);
  }
  SECTION("a request before hello gets its error, then the close") {
    int fd = test::ConnectRaw(xdg.socket());
    REQUIRE(wire::WriteFrame(fd, Json{{"id", 9u}, {"op", "slots"}}));
    auto reply = wire::ReadFrame(fd);
    REQUIRE(reply);
    REQUIRE(*reply);
    CHECK((**reply)["error"] == "CKR_CRYPTOKI_NOT_INITIALIZED");
    CHECK(test::ClosedByPeer(fd));
    ::close(fd);
  }
  SECTION("a bad request keeps the connection") {
    int fd = HelloedRaw(xdg);
    REQUIRE(wire::WriteFrame(fd, Json{{"id", 3u}, {"op", "login"}}));
    auto reply = wire::ReadFrame(fd);
    REQUIRE(reply);
    REQUIRE(*reply);
    CHECK((**reply)["error"] == "CKR_ARGUMENTS_BAD");
    REQUIRE(wire::WriteFrame(fd, Json{{"id", 4u}, {"op", "slots"}}));
    auto again = wire::ReadFrame(fd);
    REQUIRE(again);
    REQUIRE(*again);
    CHECK((**again)["ok"] == true);
    ::close(fd);
  }
  CHECK(Works(good));
  AgentClient fresh = Client(xdg);
  CHECK(Works(fresh));
}

TEST_CASE("one agent per user; stale sockets are replaced; SIGTERM cleans up", "[socket]") {
  test::TempXdg xdg;
  test::AgentProcess first;
  REQUIRE(first.Start(xdg.socket()));
  struct stat st{};
  REQUIRE(::stat(xdg.socket().parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat(xdg.socket().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  test::AgentProcess second;
  second.Start(xdg.socket());  // connects to the first one's socket
  CHECK(second.Wait() == 0);   // and exits quietly
  AgentClient c = Client(xdg);
  auto status = c.Call(Json{{"op", "status"}});
  REQUIRE(status);
  CHECK((*status)["pid"] == static_cast<std::uint64_t>(first.pid()));

  first.Kill(SIGKILL);
  first.Wait();
  CHECK(std::filesystem::exists(xdg.socket()));  // stale
  test::AgentProcess third;
  REQUIRE(third.Start(xdg.socket()));
  AgentClient d = Client(xdg);
  CHECK(Works(d));
  third.Kill(SIGTERM);
  CHECK(third.Wait() == 0);
  CHECK_FALSE(std::filesystem::exists(xdg.socket()));
}

TEST_CASE("events reach connections that asked; pipelined requests all get replies", "[socket]") {
  test::TempXdg xdg;
  test::AgentProcess agent;
  REQUIRE(agent.Start(xdg.socket()));
  int listener = test::ConnectRaw(xdg.socket());
  REQUIRE(wire::WriteFrame(listener, Json{{"id", 1u}, {"op", "hello"}, {"version", 1}, {"client", "raw"}, {"app", "t"},
                                          {"pid", 1u}, {"events", true}}));
  REQUIRE(wire::ReadFrame(listener));

  AgentClient admin = Client(xdg);
  const auto slot = CreateToken(admin, "ev");
  auto event = wire::ReadFrame(listener);
  REQUIRE(event);
  REQUIRE(*event);
  CHECK((**event)["event"] == "slots");
  CHECK((**event)["slots"][0]["slot_id"] == slot);

  // Log in on the raw connection, make a key, then pipeline signatures.
  const auto oid = LoginAndMakeP256Key(listener, slot);
  constexpr std::uint64_t kCount = 40;
  for (std::uint64_t i = 0; i < kCount; ++i)
    REQUIRE(wire::WriteFrame(listener, Json{{"id", 100 + i}, {"op", "sign"}, {"slot_id", slot}, {"oid", oid},
                                            {"mechanism", CKM_ECDSA}, {"data", wire::Binary(wire::Bytes(32, i))}}));
  std::set<std::uint64_t> answered;
  while (answered.size() < kCount) {
    auto frame = wire::ReadFrame(listener);
    REQUIRE(frame);
    REQUIRE(*frame);
    if (!(**frame).contains("id")) continue;
    CHECK((**frame)["ok"] == true);
    answered.insert((**frame)["id"].get<std::uint64_t>());
  }
  CHECK(*answered.begin() == 100);
  CHECK(*answered.rbegin() == 100 + kCount - 1);

  // Unplug: the logged-in connection hears logged_out and the new snapshot.
  REQUIRE(admin.Call(Json{{"op", "token_unplug"}, {"name", "ev"}}));
  bool logged_out = false, slots_absent = false;
  while (!(logged_out && slots_absent)) {
    auto frame = wire::ReadFrame(listener);
    REQUIRE(frame);
    REQUIRE(*frame);
    if ((**frame)["event"] == "logged_out") logged_out = (**frame)["slot_id"] == slot;
    if ((**frame)["event"] == "slots") slots_absent = (**frame)["slots"][0]["present"] == false;
  }
  Json refused = RawCall(listener, Json{{"id", 5u}, {"op", "sign"}, {"slot_id", slot}, {"oid", oid}, {"mechanism", CKM_ECDSA},
                                        {"data", wire::Binary(wire::Bytes(32, 1))}});
  CHECK(refused["error"] == "CKR_TOKEN_NOT_PRESENT");
  ::close(listener);
}

namespace {

Json LaneHello(std::uint64_t lane_of) {
  return Json{{"id", 0u}, {"op", "hello"}, {"version", 1},         {"client", "raw"},
              {"app", "t"}, {"pid", 1u},     {"lane_of", lane_of}};
}

}  // namespace

TEST_CASE("lanes sign with their application's login, do nothing else, and close with it", "[socket]") {
  test::TempXdg xdg;
  test::AgentProcess agent;
  REQUIRE(agent.Start(xdg.socket()));
  AgentClient admin = Client(xdg);
  const auto slot = CreateToken(admin, "ln");

  int app = test::ConnectRaw(xdg.socket());
  REQUIRE(app >= 0);
  Json hello = RawCall(app, Json{{"id", 1u}, {"op", "hello"}, {"version", 1}, {"client", "raw"}, {"app", "t"}, {"pid", 1u}});
  REQUIRE(hello["ok"] == true);
  REQUIRE(hello.contains("connection"));
  const auto app_id = hello["connection"].get<std::uint64_t>();
  const auto oid = LoginAndMakeP256Key(app, slot);
  const Json sign{{"id", 7u}, {"op", "sign"}, {"slot_id", slot}, {"oid", oid}, {"mechanism", CKM_ECDSA},
                  {"data", wire::Binary(wire::Bytes(32, 5))}};

  int lane = test::ConnectRaw(xdg.socket());
  REQUIRE(lane >= 0);
  REQUIRE(RawCall(lane, LaneHello(app_id))["ok"] == true);

  SECTION("sign and decrypt use the application's login; nothing else is served") {
    Json signed_on_lane = RawCall(lane, sign);
    CHECK(signed_on_lane["ok"] == true);
    CHECK(signed_on_lane["signature"].get_binary().size() == 64);
    // decrypt gets past the login to the key (a P-256 key may not decrypt).
    Json decrypt = sign;
    decrypt["op"] = "decrypt";
    decrypt["mechanism"] = CKM_RSA_PKCS;
    CHECK(RawCall(lane, decrypt)["error"] == "CKR_KEY_FUNCTION_NOT_PERMITTED");
    for (const char* op : {"slots", "login", "logout", "objects", "token_list", "shutdown", "hello"}) {
      Json refused = RawCall(lane, Json{{"id", 8u}, {"op", op}, {"slot_id", slot}, {"user_type", 1u}, {"pin", SecretBytes("1234")}});
      CAPTURE(op);
      CHECK(refused["error"] == "CKR_FUNCTION_NOT_SUPPORTED");
    }
    // The application logs out: the lane's next signature is refused.
    REQUIRE(RawCall(app, Json{{"id", 4u}, {"op", "logout"}, {"slot_id", slot}})["ok"] == true);
    CHECK(RawCall(lane, sign)["error"] == "CKR_USER_NOT_LOGGED_IN");
    CHECK(RawCall(lane, decrypt)["error"] == "CKR_USER_NOT_LOGGED_IN");
    // ... and the login of another connection is not the lane's.
    REQUIRE(admin.Call(Json{{"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", SecretBytes("1234")}}));
    CHECK(RawCall(lane, sign)["error"] == "CKR_USER_NOT_LOGGED_IN");
    // SIGTERM ends the lane's own thread too (its socket closes at once, not
    // after the 10 s the agent gives stuck connections).
    agent.Kill(SIGTERM);
    CHECK(test::ClosedByPeer(lane, 3000));
    CHECK(agent.Wait() == 0);
  }
  SECTION("the lanes close with the application connection") {
    ::close(app);
    app = -1;
    CHECK(test::ClosedByPeer(lane));
  }
  SECTION("at most 16 lanes per application") {
    std::vector<int> more;
    for (int i = 0; i < 15; ++i) {  // the 15 besides `lane`
      more.push_back(test::ConnectRaw(xdg.socket()));
      REQUIRE(more.back() >= 0);
      REQUIRE(RawCall(more.back(), LaneHello(app_id))["ok"] == true);
    }
    int refused = test::ConnectRaw(xdg.socket());
    REQUIRE(refused >= 0);
    CHECK(RawCall(refused, LaneHello(app_id))["error"] == "CKR_DEVICE_MEMORY");
    CHECK(test::ClosedByPeer(refused));
    ::close(refused);
    CHECK(RawCall(more.back(), sign)["ok"] == true);  // the others still sign
    ::close(more.back());
    more.pop_back();
    // A closed lane frees its place.
    int again = -1;
    bool attached = false;
    for (int tries = 0; tries < 200 && !attached; ++tries) {  // the agent notices the close on its own thread
      again = test::ConnectRaw(xdg.socket());
      REQUIRE(again >= 0);
      attached = RawCall(again, LaneHello(app_id))["ok"] == true;
      if (!attached) {
        ::close(again);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    CHECK(attached);
    if (attached) ::close(again);
    for (int fd : more) ::close(fd);
  }
  SECTION("lane_of must name an open application connection of the same process") {
    for (std::uint64_t bad : {app_id + 1000, std::uint64_t{0}}) {
      int other = test::ConnectRaw(xdg.socket());
      REQUIRE(other >= 0);
      CHECK(RawCall(other, LaneHello(bad))["error"] == "CKR_ARGUMENTS_BAD");
      CHECK(test::ClosedByPeer(other));
      ::close(other);
    }
    // Not a lane of a lane: the lane's own id comes from its hello reply.
    int second = test::ConnectRaw(xdg.socket());
    REQUIRE(second >= 0);
    Json second_hello = RawCall(second, LaneHello(app_id));
    REQUIRE(second_hello["ok"] == true);
    int third = test::ConnectRaw(xdg.socket());
    REQUIRE(third >= 0);
    CHECK(RawCall(third, LaneHello(second_hello["connection"].get<std::uint64_t>()))["error"] == "CKR_ARGUMENTS_BAD");
    CHECK(test::ClosedByPeer(third));
    ::close(third);
    ::close(second);
    // Another process may not attach to this one's connection, whatever pid its hello claims.
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      int fd = test::ConnectRaw(xdg.socket());
      Json h = LaneHello(app_id);
      h["pid"] = static_cast<std::uint64_t>(::getppid());
      if (fd < 0 || !wire::WriteFrame(fd, h)) ::_exit(2);
      auto reply = wire::ReadFrame(fd);
      const bool refused = reply && *reply && (**reply)["error"] == "CKR_ARGUMENTS_BAD";
      ::_exit(refused && test::ClosedByPeer(fd) ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  ::close(lane);
  if (app >= 0) ::close(app);
}

TEST_CASE("the shutdown op stops the agent", "[socket]") {
  test::TempXdg xdg;
  test::AgentProcess agent;
  REQUIRE(agent.Start(xdg.socket()));
  AgentClient c = Client(xdg);
  REQUIRE(c.Call(Json{{"op", "shutdown"}}));
  CHECK(agent.Wait() == 0);
  CHECK_FALSE(std::filesystem::exists(xdg.socket()));
}

TEST_CASE("the agent starts and answers", "[socket]") {
  test::TempXdg xdg;
  test::AgentProcess agent;
  REQUIRE(agent.Start(xdg.socket()));  // how fast is measured by bench/ (cold start), not here
}

namespace {

// A loopback TCP connection to the agent's --tcp-listen endpoint (-1 on failure).
int ConnectTcp(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

}  // namespace

TEST_CASE("loopback TCP: the hello must carry the secret, admitted connections work like the socket", "[socket]") {
  test::TempXdg xdg("[agent]\ntcp_listen = 0\n");
  test::AgentProcess agent;
  REQUIRE(agent.Start(xdg.socket()));
  // The agent answers on its socket before it opens the TCP endpoint: wait for the file (up to 5 s).
  std::string line, secret_hex;
  unsigned port = 0;
  for (int tries = 0; tries < 500 && secret_hex.size() != 64; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream endpoint(xdg.root() / "run" / "vtoken" / "agent-tcp.txt");
    while (std::getline(endpoint, line)) {
      if (line.starts_with("port=")) port = static_cast<unsigned>(std::stoul(line.substr(5)));
      if (line.starts_with("secret=")) secret_hex = line.substr(7);
    }
  }
  REQUIRE(port != 0);
  REQUIRE(secret_hex.size() == 64);
  wire::Bytes secret;
  for (std::size_t i = 0; i < secret_hex.size(); i += 2)
    secret.push_back(static_cast<std::uint8_t>(std::stoul(secret_hex.substr(i, 2), nullptr, 16)));
  auto hello = [&](const wire::Bytes& s) {
    return Json{{"id", 1u},    {"op", "hello"}, {"version", 1},          {"client", "ksp"},
                {"app", "t"}, {"pid", 1u},     {"secret", wire::Binary(s)}};
  };

  SECTION("a wrong secret is closed without a reply") {
    int fd = ConnectTcp(static_cast<std::uint16_t>(port));
    REQUIRE(fd >= 0);
    wire::Bytes wrong = secret;
    wrong[0] ^= 1;
    REQUIRE(wire::WriteFrame(fd, hello(wrong)));
    auto frame = wire::ReadFrame(fd);
    CHECK((!frame || !*frame));  // closed, nothing said
    ::close(fd);
  }
  SECTION("the right secret: hello, then pipelined requests all answered") {
    int fd = ConnectTcp(static_cast<std::uint16_t>(port));
    REQUIRE(fd >= 0);
    REQUIRE(wire::WriteFrame(fd, hello(secret)));
    for (std::uint64_t i = 0; i < 8; ++i) REQUIRE(wire::WriteFrame(fd, Json{{"id", 10 + i}, {"op", "slots"}}));
    std::set<std::uint64_t> answered;
    while (answered.size() < 9) {
      auto frame = wire::ReadFrame(fd);
      REQUIRE(frame);
      REQUIRE(*frame);
      CHECK((**frame)["ok"] == true);
      answered.insert((**frame)["id"].get<std::uint64_t>());
    }
    CHECK(*answered.begin() == 1);
    CHECK(*answered.rbegin() == 17);
    ::close(fd);
  }
  SECTION("no lanes over TCP (no SO_PEERCRED to tie one to its process)") {
    int app = ConnectTcp(static_cast<std::uint16_t>(port));
    REQUIRE(app >= 0);
    Json app_hello = RawCall(app, hello(secret));
    REQUIRE(app_hello["ok"] == true);
    int lane = ConnectTcp(static_cast<std::uint16_t>(port));
    REQUIRE(lane >= 0);
    Json lane_hello = hello(secret);
    lane_hello["lane_of"] = app_hello["connection"];
    CHECK(RawCall(lane, lane_hello)["error"] == "CKR_ARGUMENTS_BAD");
    CHECK(test::ClosedByPeer(lane));
    ::close(lane);
    ::close(app);
  }
  AgentClient c = Client(xdg);  // the Unix socket is unaffected
  CHECK(Works(c));
}
