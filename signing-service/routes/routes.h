#pragma once
// One Register function per endpoint group; http_server.cpp calls them all.
#include <httplib.h>

#include "http_util.h"

namespace vtoken::service {

void RegisterInfoLogin(httplib::Server& s, Context& ctx);    // info, auth/login, auth/revoke
void RegisterCredentials(httplib::Server& s, Context& ctx);  // credentials/list|info|authorize
void RegisterSignatures(httplib::Server& s, Context& ctx);   // signatures/signHash
void RegisterOAuth2(httplib::Server& s, Context& ctx);       // /oauth2/*

// Test mode only: the fault switch and the clock.
struct FaultSwitch;
std::shared_ptr<FaultSwitch> NewFaultSwitch();
void RegisterTestRoutes(httplib::Server& s, Context& ctx, std::shared_ptr<FaultSwitch> faults);
// Pre-routing hook: applies an armed fault; true when the request was answered (or dropped).
bool ApplyFault(FaultSwitch& faults, const httplib::Request& req, httplib::Response& res);

// "https://HOST/" from the request's Host header (sanitized).
std::string BaseUrl(const httplib::Request& req);

}  // namespace vtoken::service
