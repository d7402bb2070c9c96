#include "driver/switch/ovsdb_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace corepin::ovsdb {
namespace {

int MillisLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 error (errno set).
int WaitFd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, MillisLeft(deadline));
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

// A non-blocking socket connected to the endpoint, or -1 with `why` set.
int OpenSocket(const std::string& endpoint, std::chrono::steady_clock::time_point deadline, std::string& why) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = 0;
  if (endpoint.rfind("unix:", 0) == 0) {
    std::string path = endpoint.substr(5);
    auto* un = reinterpret_cast<sockaddr_un*>(&addr);
    if (path.empty() || path.size() >= sizeof(un->sun_path)) {
      why = "bad unix socket path";
      return -1;
    }
    un->sun_family = family = AF_UNIX;
    std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
    len = sizeof(sockaddr_un);
  } else if (endpoint.rfind("tcp:", 0) == 0) {
    std::string rest = endpoint.substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) {
      why = "expected tcp:HOST:PORT";
      return -1;
    }
    std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;  // no DNS: a switch is named by address
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
      why = std::string("bad address: ") + ::gai_strerror(rc);
      return -1;
    }
    std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    family = res->ai_family;
    ::freeaddrinfo(res);
  } else {
    why = "expected unix:PATH or tcp:HOST:PORT";
    return -1;
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::strerror(errno);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) {
      why = std::strerror(errno);
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t elen = sizeof(err);
    int ready = WaitFd(fd, POLLOUT, deadline);
    if (ready <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
      why = ready == 0 ? "connect timed out" : std::strerror(err ? err : errno);
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<OvsdbClient>> OvsdbClient::Connect(const std::string& endpoint, Millis timeout) {
  std::string why;
  int fd = OpenSocket(endpoint, std::chrono::steady_clock::now() + timeout, why);
  if (fd < 0) return Unavailable("ovsdb-server at " + endpoint + " unreachable: " + why);
  return std::unique_ptr<OvsdbClient>(new OvsdbClient(fd, endpoint));
}

OvsdbClient::~OvsdbClient() { Close(); }

void OvsdbClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Error OvsdbClient::Fail(const std::string& what) {
  Close();
  return Unavailable("ovsdb-server at " + endpoint_ + ": " + what);
}

Status OvsdbClient::Send(const Json& message, Clock::time_point deadline) {
  if (fd_ < 0) return Unavailable("ovsdb-server at " + endpoint_ + ": connection closed");
  std::string out = message.dump();
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (WaitFd(fd_, POLLOUT, deadline) <= 0) return Fail("send timed out");
    } else {
      return Fail(std::string("send: ") + std::strerror(errno));
    }
  }
  return Status::Ok();
}

// Scans buf_ from where the last call stopped, tracking string literals and nesting, and
// cuts off the first complete top-level value (OVSDB messages are always objects).
std::optional<Json> OvsdbClient::TakeBufferedMessage() {
  for (; scan_ < buf_.size(); ++scan_) {
    char c = buf_[scan_];
    if (in_string_) {
      if (escape_) escape_ = false;
      else if (c == '\\') escape_ = true;
      else if (c == '"') in_string_ = false;
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if ((c == '}' || c == ']') && --depth_ == 0) {
      std::string text = buf_.substr(0, scan_ + 1);
      buf_.erase(0, scan_ + 1);
      scan_ = 0;
      return Json::parse(text, nullptr, /*allow_exceptions=*/false);
    }
  }
  return std::nullopt;
}

Result<std::optional<Json>> OvsdbClient::Receive(Clock::time_point deadline) {
  for (;;) {
    if (fd_ < 0) return Unavailable("ovsdb-server at " + endpoint_ + ": connection closed");
    if (auto msg = TakeBufferedMessage()) {
      if (msg->is_discarded() || !msg->is_object()) return Fail("sent a message that is not a JSON object");
      // The server's liveness probe: answer at once, whatever we are waiting for.
      if (msg->value("method", "") == "echo" && msg->contains("id") && !(*msg)["id"].is_null()) {
        Json reply = {{"result", msg->value("params", Json::array())}, {"error", nullptr}, {"id", (*msg)["id"]}};
        if (Status s = Send(reply, deadline); !s.ok()) return s.error();
        continue;
      }
      return std::optional<Json>(std::move(*msg));
    }
    int ready = WaitFd(fd_, POLLIN, deadline);
    if (ready == 0) return std::optional<Json>();
    if (ready < 0) return Fail(std::string("poll: ") + std::strerror(errno));
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) return Fail("connection closed by the server");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Fail(std::string("recv: ") + std::strerror(errno));
    }
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

Result<Json> OvsdbClient::Call(const std::string& method, Json params, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  uint64_t id = next_id_++;
  if (Status s = Send({{"method", method}, {"params", std::move(params)}, {"id", id}}, deadline); !s.ok())
    return s.error();
  for (;;) {
    auto msg = Receive(deadline);
    if (!msg.ok()) return msg.error();
    // No reply in time: the outcome of the request is unknown, so the connection is dropped
    // rather than matched later against a reply we no longer wait for.
    if (!msg->has_value()) return Fail(method + ": no reply within " + std::to_string(timeout.count()) + " ms");
    Json& m = **msg;
    if (m.contains("method")) {  // a notification (or another request) while we wait
      notifications_.push_back(std::move(m));
      continue;
    }
    if (m.value("id", Json()) != Json(id)) continue;  // a stale reply (e.g. to an echo of ours)
    if (m.contains("error") && !m["error"].is_null())
      return Unavailable("ovsdb-server at " + endpoint_ + ": " + method + " failed: " + m["error"].dump());
    return m.value("result", Json());
  }
}

Result<std::optional<Json>> OvsdbClient::NextNotification(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (notifications_.empty()) {
    auto msg = Receive(deadline);
    if (!msg.ok()) return msg.error();
    if (!msg->has_value()) return std::optional<Json>();
    if ((**msg).contains("method")) notifications_.push_back(std::move(**msg));
  }
  Json n = std::move(notifications_.front());
  notifications_.pop_front();
  return std::optional<Json>(std::move(n));
}

}  // namespace corepin::ovsdb
