#include "api/guarded_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <thread>

namespace corepin {

using Clock = std::chrono::steady_clock;

namespace {

thread_local RequestContext* current_request = nullptr;
thread_local std::function<void()> mark_handling;  // of the connection this thread serves

int MsUntil(Clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1 << 30));
}

// Waits for `events` on `fd` up to `ms`; true when ready (or the peer hung up: the read says so).
bool PollFor(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  int r;
  do r = poll(&p, 1, ms);
  while (r < 0 && errno == EINTR);
  return r > 0;
}

void AddressOf(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                     : getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (r != 0) return;
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

}  // namespace

RequestContext* CurrentRequest() { return current_request; }

// One open connection. `state` and `since` change under the table's lock.
struct GuardedServer::Connection {
  enum class State { kIdle, kReading, kHandling };
  int fd = -1;
  State state = State::kIdle;
  Clock::time_point since = Clock::now();
  Clock::time_point deadline;  // of the request being read
  bool evicted = false;
  RequestContext request;
};

// The open connections. A connection's fd is closed only here, under the lock, so that an
// eviction never shuts down a descriptor number that was reused by a newer connection.
class GuardedServer::Table {
 public:
  void Add(Connection* c) {
    std::lock_guard lock(mu_);
    open_.push_back(c);
  }
  void RemoveAndClose(Connection* c) {
    std::lock_guard lock(mu_);
    open_.remove(c);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
  }
  void Set(Connection* c, Connection::State s) {
    std::lock_guard lock(mu_);
    c->state = s;
    c->since = Clock::now();
  }
  // Closes as many connections as `wanted` less those already closed and not yet gone, each the
  // one that has waited longest for its client; connections in a handler are never chosen.
  // Returns how many it closed.
  int Evict(int wanted) {
    std::lock_guard lock(mu_);
    for (Connection* c : open_) wanted -= c->evicted ? 1 : 0;
    int closed = 0;
    while (wanted-- > 0 && EvictOneLocked()) ++closed;
    return closed;
  }
  // On stop: every connection not in a handler lets go now.
  void ShutdownWaiting() {
    std::lock_guard lock(mu_);
    for (Connection* c : open_)
      if (c->state != Connection::State::kHandling) shutdown(c->fd, SHUT_RDWR);
  }

 private:
  bool EvictOneLocked() {
    Connection* oldest = nullptr;
    for (Connection* c : open_)
      if (c->state != Connection::State::kHandling && !c->evicted && (!oldest || c->since < oldest->since)) oldest = c;
    if (!oldest) return false;
    oldest->evicted = true;
    shutdown(oldest->fd, SHUT_RDWR);  // its thread wakes, reads end-of-file and lets go
    return true;
  }

  std::mutex mu_;
  std::list<Connection*> open_;
};

// httplib's thread pool, plus: while connections wait in its queue (every thread taken), as many
// connections that are waiting for their clients are closed to make room, so that a new client
// never queues behind slow or idle ones. Checked when a connection arrives, and every 20 ms
// (a connection just accepted may not be in the table yet).
class GuardedServer::Pool : public httplib::TaskQueue {
 public:
  Pool(size_t threads, Table& table, std::atomic<uint64_t>& evicted)
      : pool_(threads), threads_(threads), table_(table), evicted_(evicted), watchdog_([this] { Watch(); }) {}
  ~Pool() override { StopWatching(); }
  void enqueue(std::function<void()> fn) override {
    ++busy_;
    MakeRoom();
    pool_.enqueue([this, fn = std::move(fn)] {
      fn();
      --busy_;
    });
  }
  void shutdown() override {
    StopWatching();
    pool_.shutdown();
  }

 private:
  void MakeRoom() {
    const size_t busy = busy_;
    if (busy > threads_) evicted_ += static_cast<uint64_t>(table_.Evict(static_cast<int>(busy - threads_)));
  }
  void Watch() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(20));
      MakeRoom();
    }
  }
  void StopWatching() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
  }

  httplib::ThreadPool pool_;
  const size_t threads_;
  Table& table_;
  std::atomic<uint64_t>& evicted_;
  std::atomic<size_t> busy_{0};  // running and queued
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread watchdog_;  // last: starts once the rest is built
};

// The socket as httplib reads and writes it, with the request's deadline on every wait.
class GuardedServer::DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(Connection& conn, int write_timeout_ms, std::atomic<uint64_t>& timed_out)
      : conn_(conn), write_timeout_ms_(write_timeout_ms), timed_out_(timed_out) {}

  bool is_readable() const override {
    if (off_ < len_) return true;
    while (Clock::now() < conn_.deadline)
      if (PollFor(conn_.fd, POLLIN, MsUntil(conn_.deadline) + 1)) return true;
    return TimedOut();
  }
  bool is_writable() const override { return PollFor(conn_.fd, POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ >= len_) {  // refill; httplib reads headers a byte at a time
      if (!is_readable()) return -1;
      ssize_t n;
      do n = recv(conn_.fd, buf_, sizeof buf_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      off_ = 0, len_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, len_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do n = send(conn_.fd, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { AddressOf(conn_.fd, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { AddressOf(conn_.fd, false, ip, port); }
  socket_t socket() const override { return conn_.fd; }

 private:
  bool TimedOut() const {
    if (!reported_) ++timed_out_;
    reported_ = true;
    return false;
  }

  Connection& conn_;
  const int write_timeout_ms_;
  std::atomic<uint64_t>& timed_out_;
  mutable bool reported_ = false;
  char buf_[4096];
  size_t off_ = 0, len_ = 0;
};

GuardedServer::GuardedServer(ConnectionLimits limits) : limits_(limits), table_(std::make_unique<Table>()) {
  const size_t threads = static_cast<size_t>(limits_.max_connections + limits_.extra_threads);
  new_task_queue = [this, threads] { return new Pool(threads, *table_, evicted_); };
}

GuardedServer::~GuardedServer() = default;

void GuardedServer::ApplyBacklog() {
  // Linux takes a second listen() on a listening socket as a new backlog.
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, limits_.listen_backlog);
}

void GuardedServer::StopServing() {
  stop();
  table_->ShutdownWaiting();
}

// Idle until the client starts a request (true) or the wait ends: idle too long, the peer gone,
// the server stopping, or the connection evicted (false).
bool GuardedServer::WaitForRequest(Connection& conn) {
  table_->Set(&conn, Connection::State::kIdle);
  const auto idle_until = Clock::now() + std::chrono::milliseconds(limits_.idle_ms);
  while (svr_sock_ != INVALID_SOCKET) {
    const int slice = std::min(MsUntil(idle_until), 200);  // notices a stop within 200 ms
    if (PollFor(conn.fd, POLLIN, slice)) {
      table_->Set(&conn, Connection::State::kReading);
      conn.deadline = Clock::now() + std::chrono::milliseconds(limits_.request_read_ms);
      return true;
    }
    if (Clock::now() >= idle_until) return false;
  }
  return false;
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  Connection conn;
  conn.fd = sock;
  table_->Add(&conn);
  bool ok = false;
  for (size_t left = keep_alive_max_count_; left > 0 && WaitForRequest(conn); --left) {
    conn.request = RequestContext{.id = next_request_id_++, .fd = sock, .start = Clock::now()};
    current_request = &conn.request;
    mark_handling = [this, &conn] { table_->Set(&conn, Connection::State::kHandling); };
    DeadlineStream stream(conn, limits_.write_timeout_ms, timed_out_);
    bool closed = false;
    ok = process_request(stream, left == 1, closed, nullptr);
    current_request = nullptr;
    mark_handling = nullptr;
    if (!ok || closed || conn.request.close_after || conn.evicted) break;
  }
  table_->RemoveAndClose(&conn);
  return ok;
}

void MarkRequestHandling() {
  if (mark_handling) mark_handling();
}

}  // namespace corepin
