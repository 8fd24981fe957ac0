// Message digests fetched from OpenSSL once per process.
//
// OpenSSL 3 resolves a digest named by EVP_sha256() or by name through its
// provider tables on every use (an implicit fetch); for a ~700-byte token
// that lookup costs as much as the hashing.  Fetching each digest once and
// keeping it for the process's lifetime removes it from every validation.
#pragma once
#include "core/no_postgres.h"

#include <openssl/evp.h>

namespace dbx_oauth::core {

// "SHA256", "SHA384" or "SHA512"; nullptr for any other name or when the
// default provider cannot supply it.  The result lives until process exit.
const EVP_MD* fetched_digest(const char* name);

}  // namespace dbx_oauth::core
