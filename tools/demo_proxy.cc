// keel-demo-proxy: what one GatewayD-style proxy does with keel, for tools/demo. It opens a
// client session, then for each of --ops steps acquires a slot of the shared pool and picks a
// backend from the shared load balancer (least connections, so every pick stays counted), and
// appends every acknowledged answer to --out:
//   slot <n>        an acknowledged acquire
//   pick <backend>  an acknowledged pick
//   unknown <what>  an attempt whose outcome stayed unknown (the client retried until timeout)
// Then it prints "done" to --out and holds its session (keep-alives) until SIGTERM, so its
// slots stay held while the demo checks them. Exit 0 unless the session could not be opened.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "net/client.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

struct Args {
  std::string endpoints;
  std::string name = "proxy";
  std::string pool = "demo/pool";
  std::string group = "demo";
  std::string out;
  std::string key_file;     // CURVE: this proxy's key pair
  std::string server_keys;  // CURVE: the nodes' client-port public keys
  int ops = 20;
  int interval_ms = 50;
};

bool Parse(int argc, char** argv, Args* args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--endpoints") args->endpoints = value;
    else if (flag == "--name") args->name = value;
    else if (flag == "--pool") args->pool = value;
    else if (flag == "--group") args->group = value;
    else if (flag == "--out") args->out = value;
    else if (flag == "--key-file") args->key_file = value;
    else if (flag == "--server-keys") args->server_keys = value;
    else if (flag == "--ops" && absl::SimpleAtoi(value, &args->ops)) continue;
    else if (flag == "--interval-ms" && absl::SimpleAtoi(value, &args->interval_ms)) continue;
    else return false;
  }
  return argc % 2 == 1 && !args->endpoints.empty() && !args->out.empty();
}

void Record(std::ofstream& out, const std::string& line) {
  out << line << '\n';
  out.flush();
}

// One step: acquire a slot, pick a backend. Returns false if the cluster gave no answer.
void Step(keel::client::Client& client, const Args& args, std::ofstream& out) {
  keel::kvpb::Command acquire;
  acquire.mutable_pool_acquire()->set_pool(args.pool);
  acquire.mutable_pool_acquire()->set_owner(args.name);
  absl::StatusOr<keel::kvpb::Result> slot = client.Execute(acquire);
  if (slot.ok() && slot->code() == keel::kvpb::CODE_OK) {
    Record(out, absl::StrCat("slot ", slot->slot()));
  } else if (!slot.ok() && absl::IsDeadlineExceeded(slot.status())) {
    Record(out, "unknown acquire");
  } else {
    Record(out, absl::StrCat("failed acquire ", slot.ok() ? keel::kvpb::Code_Name(slot->code()) : slot.status().ToString()));
  }
  keel::kvpb::Command pick;
  pick.mutable_lb_pick()->set_group(args.group);
  absl::StatusOr<keel::kvpb::Result> backend = client.Execute(pick);
  if (backend.ok() && backend->code() == keel::kvpb::CODE_OK) {
    Record(out, absl::StrCat("pick ", backend->backend()));
  } else if (!backend.ok() && absl::IsDeadlineExceeded(backend.status())) {
    Record(out, "unknown pick");
  } else {
    Record(out, absl::StrCat("failed pick ", backend.ok() ? keel::kvpb::Code_Name(backend->code()) : backend.status().ToString()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: keel-demo-proxy --endpoints LIST --out FILE --key-file F --server-keys F [--name N] [--pool P] "
                 "[--group G] [--ops N] [--interval-ms MS]\n");
    return 2;
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  absl::StatusOr<std::vector<std::string>> endpoints = keel::client::ParseEndpoints(args.endpoints);
  if (!endpoints.ok()) {
    std::fprintf(stderr, "keel-demo-proxy: %s\n", endpoints.status().ToString().c_str());
    return 2;
  }
  keel::client::ClientOptions options;
  options.endpoints = *endpoints;
  options.call_timeout_nanos = 15'000'000'000;
  absl::StatusOr<keel::client::ClientOptions::Curve> curve =
      keel::client::LoadClientCurve(args.key_file, args.server_keys);
  if (!curve.ok()) {
    std::fprintf(stderr, "keel-demo-proxy: %s\n", curve.status().ToString().c_str());
    return 2;
  }
  options.curve = *curve;
  absl::StatusOr<std::unique_ptr<keel::client::Client>> client = keel::client::Client::Create(options);
  if (!client.ok() || !(*client)->OpenSession().ok()) {
    std::fprintf(stderr, "keel-demo-proxy %s: cannot open a session\n", args.name.c_str());
    return 1;
  }
  std::ofstream out(args.out, std::ios::app);
  for (int i = 0; i < args.ops && !g_stop.load(); ++i) {
    Step(**client, args, out);
    std::this_thread::sleep_for(std::chrono::milliseconds(args.interval_ms));
  }
  Record(out, "done");
  // Hold the session (and with it the slots) until told to stop.
  while (!g_stop.load()) {
    (*client)->KeepAliveIfDue().IgnoreError();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}
