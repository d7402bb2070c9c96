// Host URIs from the network: what corepind lets through to libvirt, and why.
//
// libvirt URIs are powerful: the `ext` transport runs the program named by `command=`, `netcat=`
// runs a program on the far side, `keyfile=`/`pkipath=` read files, `no_verify=` turns off TLS
// checks, and a bare name may be a libvirt alias. A host URI arrives in a request body, so it is
// checked against an allow-list before any driver sees it; anything else is refused with the
// reason, and a refusal never says whether a file exists.
//
//   if (Status s = CheckHostUri(uri, policy); !s.ok()) return s.error();  // 422, says why
#pragma once

#include <string>

#include "common/status.h"

namespace corepin {

struct HostUriPolicy {
  // `test:` (libvirt's test driver) and `fixture:` (simulated host shapes): for tests and demos
  // only (corepind --allow-simulated-hosts), never on a production daemon.
  bool allow_simulated = false;
  // qemu+tcp:// carries libvirt's protocol unencrypted: only when asked for (--allow-tcp-hosts).
  bool allow_tcp = false;
};

// Ok when `uri` is one of:
//   qemu:///system, qemu+unix:///system[?socket=/…/libvirt-sock]
//   qemu+ssh://[user@]host[:port]/system[?socket=…&mode=auto|legacy|netcat|native&no_tty=1]
//   qemu+tls://host[:port]/system
//   qemu+tcp://host[:port]/system                      (allow_tcp)
//   test:///default, test:///ABS/PATH.xml, fixture:NAME[#ID], fixture:///ABS/PATH.xml[#ID]  (allow_simulated)
// Otherwise Unprocessable with what is wrong and what is accepted.
Status CheckHostUri(const std::string& uri, const HostUriPolicy& policy);

}  // namespace corepin
