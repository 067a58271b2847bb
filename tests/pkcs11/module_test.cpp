// The module through dlopen and its function list, with no agent running:
// lifecycle rules, argument checks, unsupported functions, fork, and that a
// missing agent gives CKR_DEVICE_ERROR quickly instead of a hang.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "module_fixture.h"

using namespace vtoken::pkcs11::test;

namespace {
CK_RV DummyCreate(void**) { return CKR_OK; }
CK_RV DummyOp(void*) { return CKR_OK; }

struct Initialized {
  explicit Initialized(CK_VOID_PTR args = nullptr) { REQUIRE(P11()->C_Initialize(args) == CKR_OK); }
  ~Initialized() { P11()->C_Finalize(nullptr); }
};
}  // namespace

TEST_CASE("function list and calls before C_Initialize") {
  Sandbox sandbox(NoAutostartConfig());
  CK_FUNCTION_LIST* f = P11();
  CHECK(f->version.major == 2);
  CHECK(f->version.minor == 40);
  CHECK(f->C_GetFunctionList(nullptr) == CKR_ARGUMENTS_BAD);
  CK_INFO info;
  CHECK(f->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED);
  CK_ULONG n = 0;
  CHECK(f->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_CRYPTOKI_NOT_INITIALIZED);
  CHECK(f->C_Encrypt(1, nullptr, 0, nullptr, nullptr) == CKR_CRYPTOKI_NOT_INITIALIZED);
  CHECK(f->C_CancelFunction(1) == CKR_CRYPTOKI_NOT_INITIALIZED);
  CHECK(f->C_Finalize(nullptr) == CKR_CRYPTOKI_NOT_INITIALIZED);
}

TEST_CASE("C_Initialize argument rules") {
  Sandbox sandbox(NoAutostartConfig());
  CK_FUNCTION_LIST* f = P11();
  CK_C_INITIALIZE_ARGS args{};
  SECTION("pReserved must be NULL") {
    args.pReserved = &args;
    CHECK(f->C_Initialize(&args) == CKR_ARGUMENTS_BAD);
  }
  SECTION("mutex callbacks: all or none") {
    args.CreateMutex = DummyCreate;
    CHECK(f->C_Initialize(&args) == CKR_ARGUMENTS_BAD);
    args.DestroyMutex = DummyOp;
    args.LockMutex = DummyOp;
    args.UnlockMutex = DummyOp;
    Initialized init(&args);  // accepted without CKF_OS_LOCKING_OK: we use our own locks
  }
  SECTION("CKF_OS_LOCKING_OK") {
    args.flags = CKF_OS_LOCKING_OK;
    Initialized init(&args);
    CHECK(f->C_Initialize(nullptr) == CKR_CRYPTOKI_ALREADY_INITIALIZED);
    CHECK(f->C_Finalize(&args) == CKR_ARGUMENTS_BAD);
  }
  SECTION("CKF_LIBRARY_CANT_CREATE_OS_THREADS is accepted (GnuTLS passes it to every module)") {
    args.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
    Initialized init(&args);
    CHECK(f->C_Initialize(nullptr) == CKR_CRYPTOKI_ALREADY_INITIALIZED);
  }
  SECTION("initialize, finalize, initialize again") {
    { Initialized init; }
    { Initialized init; }
  }
  CHECK(f->C_Finalize(nullptr) == CKR_CRYPTOKI_NOT_INITIALIZED);
}

TEST_CASE("a broken configuration file fails C_Initialize with a reason") {
  Sandbox sandbox("[agent]\ntimeout_ms = soon\n");
  CHECK(P11()->C_Initialize(nullptr) == CKR_GENERAL_ERROR);
  CHECK(P11()->C_Finalize(nullptr) == CKR_CRYPTOKI_NOT_INITIALIZED);
}

TEST_CASE("C_GetInfo is blank padded") {
  Sandbox sandbox(NoAutostartConfig());
  Initialized init;
  CK_INFO info;
  REQUIRE(P11()->C_GetInfo(&info) == CKR_OK);
  CHECK(info.cryptokiVersion.major == 2);
  CHECK(info.cryptokiVersion.minor == 40);
  CHECK(std::string(reinterpret_cast<char*>(info.manufacturerID), 32) == "vtoken" + std::string(26, ' '));
  CHECK(Unpad(info.libraryDescription, 32) == "vtoken virtual token module");
  CHECK(info.flags == 0);
  CHECK(P11()->C_GetInfo(nullptr) == CKR_ARGUMENTS_BAD);
}

TEST_CASE("unimplemented functions after C_Initialize") {
  Sandbox sandbox(NoAutostartConfig());
  Initialized init;
  CK_FUNCTION_LIST* f = P11();
  CHECK(f->C_EncryptInit(1, nullptr, 1) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_Encrypt(1, nullptr, 0, nullptr, nullptr) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_GetOperationState(1, nullptr, nullptr) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_DigestKey(1, 1) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_SignRecoverInit(1, nullptr, 1) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_VerifyRecover(1, nullptr, 0, nullptr, nullptr) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_GenerateKey(1, nullptr, nullptr, 0, nullptr) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_WrapKey(1, nullptr, 1, 1, nullptr, nullptr) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_DeriveKey(1, nullptr, 1, nullptr, 0, nullptr) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_CopyObject(1, 1, nullptr, 0, nullptr) == CKR_FUNCTION_NOT_SUPPORTED);
  CHECK(f->C_GetFunctionStatus(1) == CKR_FUNCTION_NOT_PARALLEL);
  CHECK(f->C_CancelFunction(1) == CKR_FUNCTION_NOT_PARALLEL);
}

TEST_CASE("garbage handles and NULL pointers without an agent") {
  Sandbox sandbox(NoAutostartConfig());
  Initialized init;
  CK_FUNCTION_LIST* f = P11();
  CK_BYTE buf[64];
  CK_ULONG len = sizeof buf;
  CK_SESSION_INFO si;
  CHECK(f->C_GetSessionInfo(0xdeadbeef, &si) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_CloseSession(42) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_Sign(42, buf, 1, buf, &len) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_SignInit(42, nullptr, 1) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_FindObjects(42, nullptr, 0, nullptr) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_GenerateRandom(42, buf, 8) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_SeedRandom(42, buf, 8) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_Login(42, CKU_USER, nullptr, 0) == CKR_SESSION_HANDLE_INVALID);
  CHECK(f->C_GetSlotList(CK_FALSE, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
  CHECK(f->C_GetSlotInfo(1, nullptr) == CKR_ARGUMENTS_BAD);
  CHECK(f->C_GetTokenInfo(1, nullptr) == CKR_ARGUMENTS_BAD);
  CHECK(f->C_OpenSession(1, CKF_SERIAL_SESSION, nullptr, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
  CK_SESSION_HANDLE h;
  CHECK(f->C_OpenSession(1, 0, nullptr, nullptr, &h) == CKR_SESSION_PARALLEL_NOT_SUPPORTED);
  CK_SLOT_ID slot;
  CHECK(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
  CHECK(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, &slot) == CKR_ARGUMENTS_BAD);
}

TEST_CASE("no agent and no autostart: CKR_DEVICE_ERROR at once, never a hang") {
  Sandbox sandbox(NoAutostartConfig());  // a hang would outlive CTest's timeout
  Initialized init;  // C_Initialize itself succeeds: the agent may come later
  CK_FUNCTION_LIST* f = P11();
  CK_ULONG n = 0;
  CHECK(f->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_DEVICE_ERROR);
  CK_SLOT_INFO info;
  CHECK(f->C_GetSlotInfo(1, &info) == CKR_DEVICE_ERROR);
  CK_SESSION_HANDLE h;
  CHECK(f->C_OpenSession(1, CKF_SERIAL_SESSION, nullptr, nullptr, &h) == CKR_DEVICE_ERROR);
  CK_SLOT_ID slot;
  CHECK(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_NO_EVENT);
}

TEST_CASE("autostart of a missing agent program fails without a hang") {
  // The longest timeout: waiting for an agent that never comes would
  // outlive CTest's timeout instead of passing late.
  Sandbox sandbox("[agent]\nautostart = true\nprogram = /nonexistent/vtokend\ntimeout_ms = 3600000\n");
  Initialized init;
  CK_ULONG n = 0;
  CHECK(P11()->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_DEVICE_ERROR);
}

TEST_CASE("C_Finalize wakes a thread blocked in C_WaitForSlotEvent") {
  Sandbox sandbox(NoAutostartConfig());
  REQUIRE(P11()->C_Initialize(nullptr) == CKR_OK);
  auto waiter = std::async(std::launch::async, [] {
    CK_SLOT_ID slot;
    return P11()->C_WaitForSlotEvent(0, &slot, nullptr);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(waiter.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
  REQUIRE(P11()->C_Finalize(nullptr) == CKR_OK);
  // Not a speed bound: without a wake-up the waiter never returns at all.
  REQUIRE(waiter.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  CHECK(waiter.get() == CKR_CRYPTOKI_NOT_INITIALIZED);
}

TEST_CASE("a forked child must initialize again, and can") {
  Sandbox sandbox(NoAutostartConfig());
  Initialized init;
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    CK_INFO info;
    int failures = 0;
    if (P11()->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED) failures |= 1;
    if (P11()->C_Finalize(nullptr) != CKR_CRYPTOKI_NOT_INITIALIZED) failures |= 2;
    if (P11()->C_Initialize(nullptr) != CKR_OK) failures |= 4;
    if (P11()->C_GetInfo(&info) != CKR_OK) failures |= 8;
    if (P11()->C_Finalize(nullptr) != CKR_OK) failures |= 16;
    _exit(failures);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CK_INFO info;
  CHECK(P11()->C_GetInfo(&info) == CKR_OK);  // the parent is untouched
}

TEST_CASE("many threads hammering an initialized module without an agent") {
  Sandbox sandbox(NoAutostartConfig());
  Initialized init;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        CK_INFO info;
        if (P11()->C_GetInfo(&info) != CKR_OK) ++wrong;
        CK_SESSION_INFO si;
        if (P11()->C_GetSessionInfo(i + 1, &si) != CKR_SESSION_HANDLE_INVALID) ++wrong;
        CK_ULONG n = 0;
        CK_RV rv = P11()->C_GetSlotList(CK_TRUE, nullptr, &n);
        if (rv != CKR_DEVICE_ERROR) ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}
