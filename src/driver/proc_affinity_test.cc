#include "driver/proc_affinity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corepin {
namespace {

namespace fs = std::filesystem;

TEST(ProcAffinity, VcpuThreadNames) {
  EXPECT_EQ(VcpuIndexFromComm("CPU 0/KVM\n"), 0);
  EXPECT_EQ(VcpuIndexFromComm("CPU 12/TCG"), 12);
  EXPECT_EQ(VcpuIndexFromComm("qemu-system-x86"), -1);
  EXPECT_EQ(VcpuIndexFromComm("CPU x/KVM"), -1);
  EXPECT_EQ(VcpuIndexFromComm("CPU 1/HVF"), -1);
  EXPECT_EQ(VcpuIndexFromComm("CPU /KVM"), -1);
}

// A fake /proc tree: a QEMU-like process with two vCPU threads and two emulator threads.
class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("corepin-proc-" + std::to_string(getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Thread(int pid, int tid, const std::string& comm, const std::string& cpus, unsigned long flags = 0x400040) {
    fs::path d = root_ / std::to_string(pid) / "task" / std::to_string(tid);
    fs::create_directories(d);
    std::ofstream(d / "comm") << comm << "\n";
    std::ofstream(d / "stat") << tid << " (" << comm << ") S 1 " << pid << " " << pid << " 0 -1 " << flags
                              << " 0 0 0\n";
    std::ofstream(d / "status") << "Name:\t" << comm << "\nCpus_allowed:\tff\nCpus_allowed_list:\t" << cpus
                                << "\nMems_allowed_list:\t0\n";
  }
  fs::path root_;
};

TEST_F(FakeProc, SplitsVcpuAndEmulatorThreads) {
  Thread(100, 100, "qemu-system-x86", "0");
  Thread(100, 101, "call_rcu", "0-1");
  Thread(100, 102, "CPU 0/KVM", "5");
  Thread(100, 103, "CPU 1/KVM", "6-7");
  Thread(100, 104, "kvm-nx-lpage-re", "5", 0x84040c0);  // PF_USER_WORKER: a kernel worker
  auto a = ReadProcAffinity(100, root_.string());
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_EQ(a->vcpus.size(), 2u);
  EXPECT_EQ(a->vcpus[0].ToString(), "5");
  EXPECT_EQ(a->vcpus[1].ToString(), "6-7");
  EXPECT_EQ(a->emulator.ToString(), "0-1");
  EXPECT_EQ(a->emulator_threads, 2);
  EXPECT_EQ(a->kernel_workers.ToString(), "5");
  EXPECT_EQ(a->kernel_worker_threads, 1);
}

TEST_F(FakeProc, MissingProcessIsNotFound) {
  auto a = ReadProcAffinity(4242, root_.string());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, ErrorCode::kNotFound);
}

TEST_F(FakeProc, PidFile) {
  fs::create_directories(root_ / "qemu");
  std::ofstream(root_ / "qemu" / "vm1.pid") << "1234";  // libvirt writes no newline
  auto pid = ReadQemuPid((root_ / "qemu").string(), "vm1");
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  EXPECT_EQ(*pid, 1234);
  auto missing = ReadQemuPid((root_ / "qemu").string(), "vm2");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("vm2"), std::string::npos);
}

TEST(ProcAffinity, ReadsThisProcess) {
  auto a = ReadProcAffinity(getpid());
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a->vcpus.empty());
  EXPECT_GE(a->emulator_threads, 1);
  EXPECT_FALSE(a->emulator.Empty());
}

}  // namespace
}  // namespace corepin
