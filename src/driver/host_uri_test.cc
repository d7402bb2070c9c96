#include "driver/host_uri.h"

#include <gtest/gtest.h>

namespace corepin {
namespace {

const HostUriPolicy kProduction{};
const HostUriPolicy kTests{.allow_simulated = true};

TEST(HostUri, AcceptsTheLibvirtConnectionsCorepinUses) {
  for (const char* uri : {"qemu:///system", "qemu+unix:///system", "qemu+unix:///system?socket=/proc/123/root/run/libvirt/libvirt-sock",
                          "qemu+ssh://root@h2/system", "qemu+ssh://h2:2222/system?no_tty=1&mode=legacy",
                          "qemu+tls://h2.example.net/system", "qemu+ssh://[fd00::2]/system"})
    EXPECT_TRUE(CheckHostUri(uri, kProduction).ok()) << uri << ": " << CheckHostUri(uri, kProduction).error().message;
}

TEST(HostUri, RefusesWhatRunsProgramsOrReadsFiles) {
  struct Case {
    const char* uri;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"test+ext:///default?command=/tmp/prog", "runs a program on this machine"},
           {"qemu+ext:///system?command=/tmp/prog", "runs a program"},
           {"qemu+ext:///system", "transport \"ext\""},
           {"qemu+ssh://h2/system?netcat=/tmp/prog", "runs a program on the remote host"},
           {"qemu+ssh://h2/system?keyfile=/etc/shadow", "reads a file"},
           {"qemu+tls://h2/system?pkipath=/root", "reads files"},
           {"qemu+tls://h2/system?no_verify=1", "TLS"},
           {"qemu+ssh://h2/system?comm%61nd=/tmp/prog", "%-escapes"},
           {"qemu+ssh://h2/system;command=/tmp/prog", "character"},
           {"qemu+unix:///system?socket=/tmp/evil", "libvirt-sock"},
           {"qemu+unix:///system?socket=/proc/1/root/../../tmp/libvirt-sock", "libvirt-sock"},
           {"qemu+libssh2://h2/system?known_hosts=/etc/shadow", "reads a file"},
           {"qemu+libssh2://h2/system", "transport \"libssh2\""},
           {"qemu+ssh://h2/system?known_hosts=/etc/shadow", "reads a file"},
           {"qemu+libssh://h2/system", "transport \"libssh\""},
           {"qemu+tcp://h2/system", "unencrypted"},
           {"qemu:///session", "/system"},
           {"xen:///system", "qemu driver"},
           {"myalias", "alias"},
           {"", "empty"},
           {"qemu:///system?x=1", "no parameters"},
           {"qemu+ssh:///system", "needs a host"},
           {"qemu:///system\n", "character"},
       }) {
    Status s = CheckHostUri(c.uri, kTests);
    ASSERT_FALSE(s.ok()) << c.uri;
    EXPECT_EQ(s.error().code, ErrorCode::kUnprocessable);
    EXPECT_NE(s.error().message.find(c.says), std::string::npos) << c.uri << ": " << s.error().message;
  }
}

TEST(HostUri, SimulatedHostsOnlyWhenAllowed) {
  for (const char* uri : {"fixture:2s32c-smt2#h1", "fixture:///tmp/x/host.xml", "test:///default", "test:///tmp/node.xml"}) {
    Status prod = CheckHostUri(uri, kProduction);
    ASSERT_FALSE(prod.ok()) << uri;
    EXPECT_NE(prod.error().message.find("--allow-simulated-hosts"), std::string::npos) << prod.error().message;
    EXPECT_TRUE(CheckHostUri(uri, kTests).ok()) << uri << ": " << CheckHostUri(uri, kTests).error().message;
  }
  // Even when allowed, a fixture never names a file outside an absolute .xml path: no probing
  // of /etc/shadow, and the refusal does not depend on whether the file exists.
  for (const char* uri : {"fixture:///etc/shadow", "fixture:../../etc/shadow", "fixture:///x/../etc/a.xml", "test:///etc/shadow"}) {
    Status s = CheckHostUri(uri, kTests);
    ASSERT_FALSE(s.ok()) << uri;
    EXPECT_EQ(s.error().message.find("cannot be read"), std::string::npos);
    EXPECT_EQ(s.error().message.find("parse"), std::string::npos);
  }
}

TEST(HostUri, TcpOnlyWhenAskedFor) {
  EXPECT_TRUE(CheckHostUri("qemu+tcp://h2:16509/system", {.allow_tcp = true}).ok());
  EXPECT_FALSE(CheckHostUri("qemu+tcp://h2:16509/system?command=x", {.allow_tcp = true}).ok());
}

TEST(HostUri, LongInputIsQuotedShort) {
  Status s = CheckHostUri("qemu+ssh://h2/system?" + std::string(100000, 'a'), kProduction);
  ASSERT_FALSE(s.ok());
  EXPECT_LT(s.error().message.size(), 600u);
}

}  // namespace
}  // namespace corepin
