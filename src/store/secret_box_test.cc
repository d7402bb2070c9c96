#include "store/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corepin {
namespace {

namespace fs = std::filesystem;

class SecretBoxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("corepin_secret_box_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SecretBoxTest, SealsWithAKeyFileOfItsOwn) {
  const std::string key = (dir_ / "secrets.key").string();
  auto box = SecretBox::OpenOrCreate(key);
  ASSERT_TRUE(box.ok()) << box.error().message;
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);

  const std::string secret = "ipmi://admin:s3cret@10.0.0.5:623?cipher=3";
  const std::string sealed = box->Seal(secret);
  EXPECT_TRUE(SecretBox::IsSealed(sealed));
  EXPECT_EQ(sealed.find("s3cret"), std::string::npos);
  EXPECT_NE(sealed, box->Seal(secret)) << "a fresh nonce each time";
  EXPECT_EQ(*box->Unseal(sealed), secret);
  // The same key file opens it again (a restart); an unsealed value passes as it is.
  auto again = SecretBox::OpenOrCreate(key);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->Unseal(sealed), secret);
  EXPECT_EQ(*again->Unseal("none"), "none");

  // Another key, or one altered byte: refused, naming the key file.
  auto other = SecretBox::OpenOrCreate((dir_ / "other.key").string());
  ASSERT_FALSE(other->Unseal(sealed).ok());
  std::string altered = sealed;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  auto bad = box->Unseal(altered);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(key), std::string::npos);
}

TEST_F(SecretBoxTest, AKeyFileOfTheWrongSizeIsRefused) {
  const std::string key = (dir_ / "short.key").string();
  std::ofstream(key) << "short";
  auto box = SecretBox::OpenOrCreate(key);
  ASSERT_FALSE(box.ok());
  EXPECT_NE(box.error().message.find("restore it"), std::string::npos);
}

}  // namespace
}  // namespace corepin
