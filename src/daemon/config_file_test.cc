#include "daemon/config_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corepin {
namespace {

const std::map<std::string, ConfigOption> kOptions = {
    {"listen", {}}, {"failures-tolerated", {}}, {"repair-drift", {.flag = true}}, {"api-hostname", {.repeated = true}}};

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = std::filesystem::temp_directory_path() / ("corepind-conf-test." + std::to_string(getpid()));
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& p : paths_) std::filesystem::remove(p);
  }
  std::vector<std::string> paths_;
};

TEST_F(ConfigFileTest, EachKeyBecomesItsOptionAndTheCommandLineWins) {
  const std::string path = Write("# corepind\nlisten: 127.0.0.1:9\nfailures-tolerated: 2\nrepair-drift: true\napi-hostname: [a.example, b.example]\n");
  auto r = ReadConfigFile(path, kOptions, {"failures-tolerated"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->args, (std::vector<std::string>{"--listen=127.0.0.1:9", "--repair-drift", "--api-hostname=a.example", "--api-hostname=b.example"}));
  EXPECT_EQ(r->line_of.at("failures-tolerated"), 3);
  auto off = ReadConfigFile(Write("repair-drift: false\n"), kOptions, {});
  ASSERT_TRUE(off.ok());
  EXPECT_TRUE(off->args.empty());
  auto empty = ReadConfigFile(Write("# nothing set\n"), kOptions, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->args.empty());
}

TEST_F(ConfigFileTest, ABadFileIsRefusedWithItsLine) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"listen: 127.0.0.1:9\nlisen: x\n", "line 2: unknown option \"lisen\""},
           {"listen: [1\n", "line 2"},
           {"repair-drift: yes please\n", "line 1: repair-drift: expected true or false"},
           {"listen: [a, b]\n", "line 1: listen: expected a single value"},
           {"listen: a\nlisten: b\n", "given twice"},
           {"- listen\n", "expected a map"},
       }) {
    auto r = ReadConfigFile(Write(c.text), kOptions, {});
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.text << ": " << r.error().message;
  }
  EXPECT_FALSE(ReadConfigFile("/nonexistent/corepind.conf", kOptions, {}).ok());
}

}  // namespace
}  // namespace corepin
