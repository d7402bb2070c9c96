// The real CPU affinity of a running QEMU process, read from /proc: what the kernel
// enforces, as opposed to what libvirt was asked for. Used to verify pinning on the local
// machine (tests, the lab) and by a host-local monitor; remote hosts are not reachable this way.
#pragma once

#include <map>
#include <string>

#include "common/cpuset.h"
#include "common/status.h"

namespace corepin {

struct ProcAffinity {
  std::map<int, CpuSet> vcpus;  // vCPU index -> Cpus_allowed_list of its "CPU n/KVM" (or /TCG) thread
  CpuSet emulator;              // union over QEMU's other threads (main loop, RCU, monitor, workers)
  int emulator_threads = 0;
  // Kernel workers living in QEMU's thread group (PF_USER_WORKER: KVM's "kvm-nx-lpage-recovery",
  // vhost-net's "vhost-PID", io_uring's "iou-wrk-"): not QEMU's, and libvirt pins none of
  // them; they inherit the affinity of the thread that made them, often a vCPU's.
  CpuSet kernel_workers;
  int kernel_worker_threads = 0;
};

// Reads PROC/PID/task/*/{comm,status,stat}. Threads that exit while being read are skipped.
// proc_root is "/proc" unless the process is seen through another mount.
Result<ProcAffinity> ReadProcAffinity(int pid, const std::string& proc_root = "/proc");

// If comm names a vCPU thread ("CPU 3/KVM", "CPU 3/TCG"), its index; else -1.
int VcpuIndexFromComm(const std::string& comm);

// The QEMU pid of a running domain, from libvirt's pid file RUN_DIR/NAME.pid. run_dir is
// "/run/libvirt/qemu" for the local libvirtd; a lab host in another mount namespace is seen at
// "/proc/LIBVIRTD_PID/root/run/libvirt/qemu". NotFound when the domain is not running there.
Result<int> ReadQemuPid(const std::string& run_dir, const std::string& domain);

}  // namespace corepin
