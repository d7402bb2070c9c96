/* responder: the service of corepin's small lab guest.
 *
 * Answers every UDP datagram on the service port with "NAME ROLE". A request
 * that starts with "seq:" gets its payload echoed after one space
 * ("NAME ROLE seq:42"), so a client can match answers to requests and count
 * losses. A request "up" gets the responder's uptime in ms after the answer
 * ("NAME ROLE up:12345"): it keeps growing across a live migration and starts
 * again from zero when the guest boots. It also sends a gratuitous ARP for the service address at start
 * and every GARP_MS milliseconds (0: only at start), so that a client
 * switch-over to another VM with the same service address is learned fast.
 *
 *   responder NAME ROLE PORT [IFACE IPV4 GARP_MS]
 *
 * Built with `gcc -static` by lab/guest/build; it runs as PID 1's successor in
 * the guest's initramfs, so it never exits on its own and reaps children.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct garp {
  int fd;
  int ifindex;
  unsigned char mac[6];
  struct in_addr ip;
};

static int garp_open(struct garp *g, const char *iface, const char *ip) {
  struct ifreq ifr;
  memset(g, 0, sizeof(*g));
  g->fd = -1;
  if (inet_pton(AF_INET, ip, &g->ip) != 1) {
    fprintf(stderr, "responder: bad address %s\n", ip);
    return -1;
  }
  g->fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ARP));
  if (g->fd < 0) {
    perror("responder: packet socket");
    return -1;
  }
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
  if (ioctl(g->fd, SIOCGIFINDEX, &ifr) < 0) {
    perror("responder: SIOCGIFINDEX");
    return -1;
  }
  g->ifindex = ifr.ifr_ifindex;
  if (ioctl(g->fd, SIOCGIFHWADDR, &ifr) < 0) {
    perror("responder: SIOCGIFHWADDR");
    return -1;
  }
  memcpy(g->mac, ifr.ifr_hwaddr.sa_data, 6);
  return 0;
}

/* A gratuitous ARP request: sender and target protocol address are both ours. */
static void garp_send(const struct garp *g) {
  struct ether_arp a;
  struct sockaddr_ll to;
  if (g->fd < 0) return;
  memset(&a, 0, sizeof(a));
  a.arp_hrd = htons(ARPHRD_ETHER);
  a.arp_pro = htons(ETH_P_IP);
  a.arp_hln = 6;
  a.arp_pln = 4;
  a.arp_op = htons(ARPOP_REQUEST);
  memcpy(a.arp_sha, g->mac, 6);
  memcpy(a.arp_spa, &g->ip, 4);
  memcpy(a.arp_tpa, &g->ip, 4);
  memset(&to, 0, sizeof(to));
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = g->ifindex;
  to.sll_halen = 6;
  memset(to.sll_addr, 0xff, 6);
  if (sendto(g->fd, &a, sizeof(a), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
    perror("responder: garp");
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 7) {
    fprintf(stderr, "usage: responder NAME ROLE PORT [IFACE IPV4 GARP_MS]\n");
    return 2;
  }
  const char *name = argv[1], *role = argv[2];
  int port = atoi(argv[3]);
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "responder: bad port %s\n", argv[3]);
    return 2;
  }
  struct garp g = {.fd = -1};
  long garp_ms = 0;
  if (argc == 7) {
    garp_ms = atol(argv[6]);
    if (garp_open(&g, argv[4], argv[5]) == 0) garp_send(&g);
  }
  signal(SIGCHLD, SIG_DFL);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("responder: socket");
    return 1;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    perror("responder: bind");
    return 1;
  }
  char answer[256];
  int alen = snprintf(answer, sizeof(answer), "%s %s", name, role);
  if (alen < 0 || alen >= (int)sizeof(answer)) alen = sizeof(answer) - 1;
  printf("responder: %s answering UDP port %d\n", answer, port);
  fflush(stdout);

  const long long started_ms = now_ms();
  long long next_garp = garp_ms > 0 ? now_ms() + garp_ms : -1;
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    int timeout = -1;
    if (next_garp >= 0) {
      long long d = next_garp - now_ms();
      timeout = d < 0 ? 0 : (int)d;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout);
    if (n < 0 && errno != EINTR) {
      perror("responder: poll");
      sleep(1);
      continue;
    }
    if (next_garp >= 0 && now_ms() >= next_garp) {
      garp_send(&g);
      next_garp = now_ms() + garp_ms;
    }
    if (n <= 0 || !(p.revents & POLLIN)) continue;

    char req[512], out[sizeof(answer) + sizeof(req) + 2];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t r = recvfrom(fd, req, sizeof(req), 0, (struct sockaddr *)&from, &fl);
    if (r < 0) continue;
    size_t olen = (size_t)alen;
    memcpy(out, answer, olen);
    if (r >= 4 && memcmp(req, "seq:", 4) == 0) {
      while (r > 0 && (req[r - 1] == '\n' || req[r - 1] == '\r')) r--;
      out[olen++] = ' ';
      memcpy(out + olen, req, (size_t)r);
      olen += (size_t)r;
    } else if (r >= 2 && memcmp(req, "up", 2) == 0) {
      olen += (size_t)snprintf(out + olen, sizeof(out) - olen, " up:%lld", now_ms() - started_ms);
    }
    sendto(fd, out, olen, 0, (struct sockaddr *)&from, fl);
  }
}
