#include "store/secret_box.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace corepin {
namespace {

constexpr char kPrefix[] = "enc:v1:";
constexpr size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> FromBase64(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return Invalid("not base64");
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return Invalid("not base64");
  size_t pad = 0;
  while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

Result<SecretBox> SecretBox::OpenOrCreate(const std::string& key_file) {
  std::ifstream in(key_file, std::ios::binary);
  if (in) {
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string key = buf.str();
    if (key.size() != kKeyBytes)
      return Unprocessable("key file " + key_file + " holds " + std::to_string(key.size()) + " bytes, not " +
                           std::to_string(kKeyBytes) + "; restore it from a backup (the BMC credentials cannot be read without it)");
    return SecretBox(key, key_file);
  }
  std::string key(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
    return Internal("no random bytes for a new key");
  const int fd = open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("cannot create key file " + key_file + ": " + std::strerror(errno));
  const bool written = write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && fsync(fd) == 0;
  close(fd);
  if (!written) return Unavailable("cannot write key file " + key_file);
  return SecretBox(key, key_file);
}

bool SecretBox::IsSealed(const std::string& stored) { return stored.rfind(kPrefix, 0) == 0; }

std::string SecretBox::Seal(const std::string& plain) const {
  std::string nonce(kNonceBytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size()));
  std::string text(plain.size(), '\0'), tag(kTagBytes, '\0');
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0, m = 0;
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key_.data()),
                     reinterpret_cast<const unsigned char*>(nonce.data()));
  EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(text.data()), &n, reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(text.data()) + n, &m);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag.data());
  return kPrefix + Base64(nonce + text + tag);
}

Result<std::string> SecretBox::Unseal(const std::string& stored) const {
  if (!IsSealed(stored)) return stored;
  const Error bad = Unprocessable("a stored secret does not open with the key in " + key_file_ +
                                  " (another key, or altered bytes); restore the key file that was used to store it");
  auto raw = FromBase64(stored.substr(sizeof kPrefix - 1));
  if (!raw || raw->size() < kNonceBytes + kTagBytes) return bad;
  const std::string nonce = raw->substr(0, kNonceBytes), tag = raw->substr(raw->size() - kTagBytes);
  const std::string text = raw->substr(kNonceBytes, raw->size() - kNonceBytes - kTagBytes);
  std::string plain(text.size(), '\0');
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0, m = 0;
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key_.data()),
                     reinterpret_cast<const unsigned char*>(nonce.data()));
  EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n, reinterpret_cast<const unsigned char*>(text.data()),
                    static_cast<int>(text.size()));
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), const_cast<char*>(tag.data()));
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &m) != 1) return bad;
  return plain;
}

}  // namespace corepin
