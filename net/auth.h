// Authentication: access tokens signed with HMAC-SHA256 (checked on the network thread, no
// shard involved), random refresh tokens (only their SHA-256 is stored, in the user's shard),
// and PBKDF2-HMAC-SHA256 password hashes. All primitives come from OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ecom::net {

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
std::array<std::uint8_t, 32> sha256(std::string_view bytes);
std::string sha256_string(std::string_view bytes);  // the 32 raw bytes as a string
std::string random_bytes(std::size_t count);        // RAND_bytes; aborts if the CSPRNG fails
bool constant_time_equal(std::string_view a, std::string_view b);

// "pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>"
std::string hash_password(std::string_view password, std::uint32_t iterations);
bool verify_password(std::string_view password, std::string_view stored);

struct access_claims {
  std::int64_t user_id = 0;
  std::int64_t expires_at_s = 0;  // Unix seconds
};

// Access token: "v1.<base64url(user_id:i64le, expires_at_s:i64le)>.<base64url(hmac)>".
// Thread-safe: the HMAC key schedule (SHA-256 states after key ⊕ ipad and key ⊕ opad) is
// computed once and copied per token, so a check costs two short SHA-256 runs and no
// allocation, instead of OpenSSL's one-shot HMAC setting everything up again each time.
class token_signer {
 public:
  explicit token_signer(std::string secret);
  ~token_signer();
  token_signer(const token_signer&) = delete;
  token_signer& operator=(const token_signer&) = delete;

  std::string sign(const access_claims& claims) const;
  // The claims when the signature checks and the token has not expired at now_s.
  std::optional<access_claims> verify(std::string_view token, std::int64_t now_s) const;

 private:
  // HMAC-SHA256 of data into out (32 bytes).
  void mac(std::string_view data, unsigned char* out) const;
  struct key_schedule;
  std::unique_ptr<key_schedule> key_;
};

// Refresh token: "r2.<user_id>.<family>.<32 random bytes base64url>": the user id routes it to
// a shard, the family (16 random bytes base64url, made at login and kept by every rotation)
// names its rotation family, so that a rotated token presented again revokes the family. Tokens
// "r1.<user_id>.<random>" from before families are still read (family empty).
struct refresh_token_parts {
  std::int64_t user_id = 0;
  std::string_view family;  // a view into the parsed token (keep it alive); empty: an r1 token
};
std::string make_refresh_family();
// The token's family: its own, or for an r1 token one derived from the token (the first 16
// bytes of its SHA-256), so that an r1 token rotated once and presented again is a reuse too.
std::string refresh_family_of(const refresh_token_parts& parts, std::string_view token);
std::string make_refresh_token(std::int64_t user_id, std::string_view family);
std::optional<refresh_token_parts> parse_refresh_token(std::string_view token);

}  // namespace ecom::net
