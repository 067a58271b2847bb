// C_Initialize/C_Finalize rules (PKCS#11 v2.40 §5.4). These scenarios
// finalize the module and initialize it again, so they run last; each ends
// with the module initialized.
#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

CK_RV InitOsLocking(CK_FUNCTION_LIST& f) {
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  return f.C_Initialize(&args);
}

CK_RV FakeCreate(void** m) {
  *m = new int(0);
  return CKR_OK;
}
CK_RV FakeDestroy(void* m) {
  delete static_cast<int*>(m);
  return CKR_OK;
}
CK_RV FakeLock(void*) { return CKR_OK; }
CK_RV FakeUnlock(void*) { return CKR_OK; }

// Finalizes, records `step` of `args`, and makes sure the module ends initialized.
void ReinitWith(Context& c, std::string_view step, CK_C_INITIALIZE_ARGS* args) {
  c.Need("C_Finalize", c.p11().C_Finalize(nullptr));
  CK_RV rv = c.Rec(step, c.p11().C_Initialize(args));
  if (rv != CKR_OK) c.Rec("C_Initialize(OS locking)", InitOsLocking(c.p11()));
  CK_ULONG n = 0;
  c.Rec("C_GetSlotList", c.p11().C_GetSlotList(CK_TRUE, nullptr, &n));
}

}  // namespace

void AddGeneral(ScenarioList& list) {
  list.push_back({"general/initialize-twice", [](Context& c) {
                    c.Rec("C_Initialize again", InitOsLocking(c.p11()));
                  }});
  list.push_back({"general/finalize-reserved-not-null", [](Context& c) {
                    int dummy = 0;
                    c.Rec("C_Finalize(&x)", c.p11().C_Finalize(&dummy));
                  }});
  list.push_back({"general/calls-after-finalize", [](Context& c) {
                    CK_SLOT_ID main = c.MainSlot();
                    c.Need("C_Finalize", c.p11().C_Finalize(nullptr));
                    CK_ULONG n = 0;
                    CK_INFO info;
                    CK_SESSION_HANDLE s;
                    c.Rec("C_GetInfo", c.p11().C_GetInfo(&info));
                    c.Rec("C_GetSlotList", c.p11().C_GetSlotList(CK_TRUE, nullptr, &n));
                    c.Rec("C_OpenSession", c.p11().C_OpenSession(main, CKF_SERIAL_SESSION, nullptr, nullptr, &s));
                    c.Rec("C_Finalize again", c.p11().C_Finalize(nullptr));
                    c.Rec("C_Initialize", InitOsLocking(c.p11()));
                    c.MainSlot();
                  }});
  list.push_back({"general/sessions-die-with-finalize", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE s = c.Open(slot, false);
                    c.Login(s);
                    c.Need("C_Finalize", c.p11().C_Finalize(nullptr));
                    c.Need("C_Initialize", InitOsLocking(c.p11()));
                    CK_SESSION_INFO info;
                    c.Rec("C_GetSessionInfo(old session)", c.p11().C_GetSessionInfo(s, &info));
                    CK_SESSION_HANDLE s2 = c.Open(c.MainSlot(), false);
                    c.Rec("C_GetSessionInfo(new session)", c.p11().C_GetSessionInfo(s2, &info)).With(SessionState(info.state));
                  }});
  list.push_back({"general/initialize-null-args", [](Context& c) { ReinitWith(c, "C_Initialize(NULL)", nullptr); }});
  list.push_back({"general/initialize-zero-args", [](Context& c) {
                    CK_C_INITIALIZE_ARGS args{};
                    ReinitWith(c, "C_Initialize(all zero)", &args);
                  }});
  list.push_back({"general/initialize-reserved-set", [](Context& c) {
                    int dummy = 0;
                    CK_C_INITIALIZE_ARGS args{};
                    args.flags = CKF_OS_LOCKING_OK;
                    args.pReserved = &dummy;
                    ReinitWith(c, "C_Initialize(pReserved set)", &args);
                  }});
  list.push_back({"general/initialize-some-mutex-functions", [](Context& c) {
                    CK_C_INITIALIZE_ARGS args{};
                    args.CreateMutex = FakeCreate;
                    args.DestroyMutex = FakeDestroy;
                    ReinitWith(c, "C_Initialize(2 of 4 mutex functions)", &args);
                  }});
  list.push_back({"general/initialize-app-mutexes", [](Context& c) {
                    CK_C_INITIALIZE_ARGS args{};
                    args.CreateMutex = FakeCreate;
                    args.DestroyMutex = FakeDestroy;
                    args.LockMutex = FakeLock;
                    args.UnlockMutex = FakeUnlock;
                    ReinitWith(c, "C_Initialize(application mutexes)", &args);
                  }});
  list.push_back({"general/initialize-app-mutexes-and-os-locking", [](Context& c) {
                    CK_C_INITIALIZE_ARGS args{};
                    args.CreateMutex = FakeCreate;
                    args.DestroyMutex = FakeDestroy;
                    args.LockMutex = FakeLock;
                    args.UnlockMutex = FakeUnlock;
                    args.flags = CKF_OS_LOCKING_OK;
                    ReinitWith(c, "C_Initialize(mutexes + OS locking)", &args);
                  }});
  list.push_back({"general/token-state-survives-reinitialize", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    c.Need("C_Finalize", c.p11().C_Finalize(nullptr));
                    c.Need("C_Initialize", InitOsLocking(c.p11()));
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Login(s);
                    Template t;
                    t.Str(CKA_LABEL, kRsaKey);
                    c.Find(s, t.Get(), "find fixture key pair");
                    (void)slot;
                  }});
}

}  // namespace vtoken::conformance
