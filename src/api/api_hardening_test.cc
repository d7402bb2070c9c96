// The API as a hostile or broken client meets it: a host URI that would run a program, JSON
// nested thousands deep, slow and idle connections, compressed and oversized bodies, requests a
// web page could send (forms, text/plain, a rebound Host name), ambiguous HTTP. Each test holds
// a hole found on an earlier corepind shut.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "api/api_server.h"
#include "driver/hypervisor.h"
#include "store/sqlite_store.h"

namespace corepin {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A TCP connection to the server on loopback, written and read raw.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConnection() { close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& data) { return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()); }
  // Everything the server sends until it closes (or 10 s pass).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = recv(fd_, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

int StatusOf(const std::string& response) {
  return response.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(response.c_str() + 9) : 0;
}

class ApiHardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    dir_ = fs::temp_directory_path() / ("corepin_api_hardening_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("COREPIN_FIXTURE_STATE_DIR", (dir_ / "fixture-hosts").c_str(), 1);
  }
  static ApiOptions Simulated() {
    ApiOptions o;
    o.host_uris.allow_simulated = true;
    return o;
  }
  void Start(ApiOptions options = {}) {
    auto store = OpenSqliteStore((dir_ / "corepin.db").string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    controller_ = std::make_unique<Controller>(store_.get(), [](const std::string& uri) { return ConnectHypervisor(uri); });
    ASSERT_TRUE(controller_->Start().ok());
    api_ = std::make_unique<ApiServer>(*controller_, [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_.push_back(line);
    }, options);
    auto port = api_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    serve_ = std::thread([this] { (void)api_->Serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override {
    if (api_) api_->Stop();
    if (serve_.joinable()) serve_.join();
    api_.reset();
    controller_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string Raw(const std::string& request) {
    RawConnection c(port_);
    EXPECT_TRUE(c.connected());
    c.Send(request);
    return c.ReadAll();
  }
  static std::string Post(const std::string& path, const std::string& body, const std::string& extra_headers = "Content-Type: application/json\r\n") {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "Content-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
  }
  bool HealthAnswers() {
    auto r = client_->Get("/v1/health");
    return r && r->status == 200;
  }
  std::vector<std::string> Log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ApiServer> api_;
  std::thread serve_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(ApiHardeningTest, AHostUriNeverRunsAProgram) {
  Start(Simulated());
  const fs::path marker = dir_ / "ran", prog = dir_ / "prog";
  {
    std::ofstream(prog) << "#!/bin/sh\ntouch " << marker.string() << "\n";
  }
  fs::permissions(prog, fs::perms::owner_all);
  for (const std::string uri : {"test+ext:///default?command=" + prog.string(), "qemu+ext:///system?command=" + prog.string(),
                                "qemu+ssh://127.0.0.1/system?netcat=" + prog.string()}) {
    json req = {{"name", "evil"}, {"uri", uri}, {"housekeeping", "0"}};
    auto r = client_->Post("/v1/hosts", req.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << r->body;
    EXPECT_NE(r->body.find("refused"), std::string::npos) << r->body;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(fs::exists(marker)) << "a host URI ran a program";
  auto hosts = client_->Get("/v1/hosts");
  ASSERT_TRUE(hosts);
  EXPECT_EQ(json::parse(hosts->body).size(), 0u);
}

TEST_F(ApiHardeningTest, SimulatedHostsOnlyWhenTheDaemonAllowsThem) {
  Start();  // production defaults
  auto r = client_->Post("/v1/hosts", R"({"name":"h1","uri":"fixture:2s32c-smt2#h1","housekeeping":"0,64"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  EXPECT_NE(r->body.find("--allow-simulated-hosts"), std::string::npos) << r->body;
  // No file probing: the answer for /etc/shadow and for a file that does not exist is the same.
  auto a = client_->Post("/v1/hosts", R"({"name":"h1","uri":"fixture:///etc/shadow","housekeeping":"0"})", "application/json");
  auto b = client_->Post("/v1/hosts", R"({"name":"h1","uri":"fixture:///etc/no-such-file","housekeeping":"0"})", "application/json");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, b->status);
  auto reason = [](const std::string& body) {
    const std::string m = json::parse(body)["error"];
    return m.substr(m.find("refused:"));
  };
  EXPECT_EQ(reason(a->body), reason(b->body));
}

TEST_F(ApiHardeningTest, DeeplyNestedJsonIsRefusedAndTheDaemonLives) {
  Start(Simulated());
  const std::string deep = std::string(60000, '[') + std::string(60000, ']');
  for (const std::string& path : {"/v1/whatif", "/v1/alarms/clear", "/v1/vms", "/v1/groups"}) {
    auto r = client_->Post(path.c_str(), R"({"failed":)" + deep + "}", "application/json");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path << ": " << r->body.substr(0, 200);
    EXPECT_NE(r->body.find("nested deeper than 64"), std::string::npos) << r->body.substr(0, 200);
  }
  EXPECT_TRUE(HealthAnswers());
}

TEST_F(ApiHardeningTest, OversizedAndCompressedBodiesAreNotRead) {
  ApiOptions o;
  o.max_body_bytes = 1 << 20;
  Start(o);
  // Refused on its Content-Length, before a byte of the body is read.
  const std::string reply = Raw("POST /v1/vms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                "Content-Length: 104857600\r\n\r\n{\"name\":\"" + std::string(1000, 'x'));
  EXPECT_EQ(StatusOf(reply), 413) << reply.substr(0, 300);
  EXPECT_LT(reply.size(), 2000u) << "the body was echoed back";
  const std::string gz = Raw(Post("/v1/vms", std::string(100, '\0'), "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"));
  EXPECT_EQ(StatusOf(gz), 415) << gz;
  EXPECT_NE(gz.find("does not decompress"), std::string::npos) << gz;
  // A long bad JSON token is quoted short.
  const std::string bad = Raw(Post("/v1/vms", "{\"a\": tru" + std::string(500000, 'e') + "}"));
  EXPECT_EQ(StatusOf(bad), 400);
  EXPECT_LT(bad.size(), 6000u);
  EXPECT_TRUE(HealthAnswers());
}

TEST_F(ApiHardeningTest, WhatAWebPageCouldSendIsRefused) {
  Start(Simulated());
  ASSERT_EQ(client_->Post("/v1/hosts", R"({"name":"h1","uri":"fixture:2s32c-smt2#h1","housekeeping":"0,64"})", "application/json")->status, 201);
  // An HTML form: urlencoded, empty body.
  const std::string form = Raw(Post("/v1/hosts/h1/drain", "", "Content-Type: application/x-www-form-urlencoded\r\n"));
  EXPECT_EQ(StatusOf(form), 415) << form;
  EXPECT_NE(form.find("application/json"), std::string::npos);
  // fetch() with text/plain needs no CORS preflight.
  const std::string plain = Raw(Post("/v1/vms", R"({"name":"x","vcpus":1,"memory_mib":64})", "Content-Type: text/plain\r\n"));
  EXPECT_EQ(StatusOf(plain), 415) << plain;
  const std::string none = Raw(Post("/v1/hosts/h1/drain", "", ""));
  EXPECT_EQ(StatusOf(none), 415) << none;
  // DNS rebinding: a page on evil.example whose name now points at 127.0.0.1.
  const std::string rebound = Raw("GET /v1/hosts HTTP/1.1\r\nHost: evil.example:7480\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(rebound), 421) << rebound;
  EXPECT_NE(rebound.find("--api-hostname"), std::string::npos);
  // No CORS headers are ever granted.
  EXPECT_EQ(rebound.find("Access-Control-Allow"), std::string::npos);
  auto host = client_->Get("/v1/hosts/h1");
  ASSERT_TRUE(host);
  EXPECT_EQ(json::parse(host->body).value("state", ""), "active") << "the form drained the host: " << host->body;
  auto vms = client_->Get("/v1/vms");
  EXPECT_EQ(json::parse(vms->body).size(), 0u);
}

TEST_F(ApiHardeningTest, AConfiguredNameIsTakenAsHost) {
  ApiOptions o;
  o.host_names = {"Corepin.Example"};
  Start(o);
  EXPECT_EQ(StatusOf(Raw("GET /v1/health HTTP/1.1\r\nHost: corepin.example:7480\r\nConnection: close\r\n\r\n")), 200);
  EXPECT_EQ(StatusOf(Raw("GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")), 200);
  EXPECT_EQ(StatusOf(Raw("GET /v1/health HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n")), 200);
}

TEST_F(ApiHardeningTest, AmbiguousHttpAndWrongMethods) {
  Start();
  const std::string two = Raw("POST /v1/whatif HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                              "Content-Length: 20\r\nConnection: close\r\n\r\n{}");
  EXPECT_EQ(StatusOf(two), 400) << two;
  const std::string put = Raw("PUT /v1/vms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(put), 405) << put;
  EXPECT_NE(put.find("Allow: GET, POST\r\n"), std::string::npos) << put;
  auto del = client_->Delete("/v1/health");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  EXPECT_EQ(client_->Get("/v1/nothing-here")->status, 404);
}

TEST_F(ApiHardeningTest, SlowAndIdleClientsDoNotDelayOthers) {
  ApiOptions o;
  o.connections.max_connections = 32;
  o.connections.request_read_ms = 3000;
  Start(o);
  // More idle connections than threads, and slow ones that send a byte every 100 ms.
  std::vector<std::unique_ptr<RawConnection>> idle, slow;
  for (int i = 0; i < 80; ++i) idle.push_back(std::make_unique<RawConnection>(port_));
  for (int i = 0; i < 40; ++i) slow.push_back(std::make_unique<RawConnection>(port_));
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    const std::string request = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (size_t at = 0; !stop && at < request.size(); ++at) {  // bounded: about 4 s at most
      for (auto& c : slow) c->Send(request.substr(at, 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 0; i < 5; ++i) {
    httplib::Client other("127.0.0.1", port_);
    other.set_connection_timeout(5, 0);
    other.set_read_timeout(5, 0);
    const auto start = Clock::now();
    auto r = other.Get("/v1/health");
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    ASSERT_TRUE(r) << "a client was not answered while others held connections";
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(took, 1000) << "a request waited behind slow or idle clients";
  }
  stop = true;
  trickle.join();
  EXPECT_GT(api_->evicted_connections(), 0u);
}

TEST_F(ApiHardeningTest, ASlowRequestIsCutOffAtItsDeadline) {
  ApiOptions o;
  o.connections.request_read_ms = 500;
  Start(o);
  RawConnection c(port_);
  ASSERT_TRUE(c.connected());
  const auto start = Clock::now();
  c.Send("GET /v1/health HTTP/1.1\r\n");
  for (int i = 0; i < 30 && c.Send("X"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string reply = c.ReadAll();
  EXPECT_EQ(reply.find("200 OK"), std::string::npos) << reply;
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count(), 5000);
  EXPECT_EQ(api_->timed_out_requests(), 1u) << reply;
}

TEST_F(ApiHardeningTest, LogLinesSayWhoWhatHowLongAndEscapeControlCharacters) {
  Start();
  const std::string reply = Raw("GET /v1/no%0Ahere\x1b[31m HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  auto r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  const std::string id = r->get_header_value("X-Request-Id");
  EXPECT_FALSE(id.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto log = Log();
  ASSERT_GE(log.size(), 1u);
  const std::string& health = log.back();
  EXPECT_NE(health.find("req=" + id + " 127.0.0.1:"), std::string::npos) << health;
  EXPECT_NE(health.find("GET /v1/health -> 200 "), std::string::npos) << health;
  EXPECT_NE(health.find("ms"), std::string::npos) << health;
  for (const auto& line : log) {
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace corepin
