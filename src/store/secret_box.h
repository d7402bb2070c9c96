// SecretBox: secrets (BMC passwords) encrypted at rest with a key file of their own, so that a
// copy of the state file (a backup, a support bundle) does not give away the BMCs.
//
// AES-256-GCM (OpenSSL) with a random 96-bit nonce per value; the key is 32 random bytes in a
// 0600 file created at the first start. A sealed value reads "enc:v1:" + base64(nonce|text|tag).
//
//   auto box = SecretBox::OpenOrCreate("/var/lib/corepin/secrets.key");
//   std::string stored = box->Seal("ipmi://admin:secret@10.0.0.5:623");
//   auto plain = box->Unseal(stored);   // an unsealed value (an older state) is returned as is
#pragma once

#include <string>

#include "common/status.h"

namespace corepin {

class SecretBox {
 public:
  // Reads the key from `key_file`, or creates it (mode 0600) when the file does not exist.
  static Result<SecretBox> OpenOrCreate(const std::string& key_file);

  std::string Seal(const std::string& plain) const;
  // The plain text of a sealed value; a value that is not sealed is returned as it is. A sealed
  // value that does not open (another key, altered bytes) is an error naming the key file.
  Result<std::string> Unseal(const std::string& stored) const;
  static bool IsSealed(const std::string& stored);

 private:
  SecretBox(std::string key, std::string key_file) : key_(std::move(key)), key_file_(std::move(key_file)) {}
  std::string key_;  // 32 bytes
  std::string key_file_;
};

}  // namespace corepin
