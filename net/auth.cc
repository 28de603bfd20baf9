#include "net/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <charconv>
#include <cstring>

#include "net/limits.h"

namespace ecom::net {

namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t password_salt_bytes = 16;
constexpr std::size_t password_hash_bytes = 32;
}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out.push_back(alphabet[v >> 18 & 63]);
    out.push_back(alphabet[v >> 12 & 63]);
    out.push_back(alphabet[v >> 6 & 63]);
    out.push_back(alphabet[v & 63]);
  }
  if (bytes.size() - i == 1) {
    std::uint32_t v = byte(i) << 16;
    out.push_back(alphabet[v >> 18 & 63]);
    out.push_back(alphabet[v >> 12 & 63]);
  } else if (bytes.size() - i == 2) {
    std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
    out.push_back(alphabet[v >> 18 & 63]);
    out.push_back(alphabet[v >> 12 & 63]);
    out.push_back(alphabet[v >> 6 & 63]);
  }
  return out;
}

namespace {

// base64url digit values; -1 for bytes outside the alphabet.
constexpr std::array<std::int8_t, 256> base64url_values = [] {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 26; ++i) {
    table['A' + i] = static_cast<std::int8_t>(i);
    table['a' + i] = static_cast<std::int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) table['0' + i] = static_cast<std::int8_t>(52 + i);
  table['-'] = 62;
  table['_'] = 63;
  return table;
}();

// Decodes into `out` (at least text.size() * 3 / 4 bytes); the decoded size, or nothing for
// text that is not canonical unpadded base64url.
std::optional<std::size_t> base64url_decode_into(std::string_view text, char* out) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::size_t size = 0;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64url_values[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    buffer = buffer << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[size++] = static_cast<char>(buffer >> bits & 0xff);
    }
  }
  // Non-canonical trailing bits mean a tampered or mangled token.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return size;
}

}  // namespace

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out(text.size() * 3 / 4, '\0');
  auto size = base64url_decode_into(text, out.data());
  if (!size) return std::nullopt;
  out.resize(*size);
  return out;
}

std::array<std::uint8_t, 32> sha256(std::string_view bytes) {
  std::array<std::uint8_t, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data());
  return out;
}

std::string sha256_string(std::string_view bytes) {
  auto digest = sha256(bytes);
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

std::string random_bytes(std::size_t count) {
  std::string out(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    std::abort();  // no randomness means no safe tokens: refuse to go on
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {
std::string pbkdf2(std::string_view password, std::string_view salt, std::uint32_t iterations) {
  std::string out(password_hash_bytes, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                    static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}
}  // namespace

std::string hash_password(std::string_view password, std::uint32_t iterations) {
  std::string salt = random_bytes(password_salt_bytes);
  return "pbkdf2-sha256$" + std::to_string(iterations) + "$" + base64url_encode(salt) + "$" +
         base64url_encode(pbkdf2(password, salt, iterations));
}

bool verify_password(std::string_view password, std::string_view stored) {
  constexpr std::string_view scheme = "pbkdf2-sha256$";
  if (!stored.starts_with(scheme)) return false;
  stored.remove_prefix(scheme.size());
  auto dollar1 = stored.find('$');
  if (dollar1 == std::string_view::npos) return false;
  auto dollar2 = stored.find('$', dollar1 + 1);
  if (dollar2 == std::string_view::npos) return false;
  std::uint32_t iterations = 0;
  auto [ptr, ec] = std::from_chars(stored.data(), stored.data() + dollar1, iterations);
  if (ec != std::errc() || iterations == 0 || iterations > kdf_iterations_max) return false;
  auto salt = base64url_decode(stored.substr(dollar1 + 1, dollar2 - dollar1 - 1));
  auto expected = base64url_decode(stored.substr(dollar2 + 1));
  if (!salt || !expected) return false;
  return constant_time_equal(pbkdf2(password, *salt, iterations), *expected);
}

// The HMAC key schedule: SHA-256 states after absorbing key ⊕ ipad and key ⊕ opad (RFC 2104).
// Kept as the low-level SHA256_CTX, a plain value: a MAC copies the two states (a memcpy each)
// instead of EVP_MD_CTX_copy_ex, which allocates on every copy in OpenSSL 3, and this runs for
// every authenticated request. The low-level API is deprecated in OpenSSL 3 but kept, and its
// result is the same SHA-256.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct token_signer::key_schedule {
  SHA256_CTX inner;
  SHA256_CTX outer;
};

token_signer::token_signer(std::string secret) : key_(std::make_unique<key_schedule>()) {
  // RFC 2104: keys longer than the block are hashed first; the block size of SHA-256 is 64.
  unsigned char block[64] = {};
  if (secret.size() > sizeof block) {
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), block);
  } else {
    std::memcpy(block, secret.data(), secret.size());
  }
  unsigned char pad[64];
  auto absorb = [&](SHA256_CTX& ctx, unsigned char fill) {
    for (std::size_t i = 0; i < sizeof pad; ++i)
      pad[i] = static_cast<unsigned char>(block[i] ^ fill);
    if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, pad, sizeof pad) != 1) {
      std::abort();  // OpenSSL cannot do SHA-256: nothing can be signed safely
    }
  };
  absorb(key_->inner, 0x36);
  absorb(key_->outer, 0x5c);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
}

token_signer::~token_signer() {
  OPENSSL_cleanse(key_.get(), sizeof *key_);
}

void token_signer::mac(std::string_view data, unsigned char* out) const {
  unsigned char inner_hash[32];
  SHA256_CTX work = key_->inner;
  if (SHA256_Update(&work, data.data(), data.size()) != 1 || SHA256_Final(inner_hash, &work) != 1)
    std::abort();
  work = key_->outer;
  if (SHA256_Update(&work, inner_hash, sizeof inner_hash) != 1 || SHA256_Final(out, &work) != 1)
    std::abort();
  OPENSSL_cleanse(&work, sizeof work);
}
#pragma GCC diagnostic pop

std::string token_signer::sign(const access_claims& claims) const {
  char raw[16];
  std::memcpy(raw, &claims.user_id, 8);
  std::memcpy(raw + 8, &claims.expires_at_s, 8);
  std::string signed_part = "v1." + base64url_encode(std::string_view(raw, sizeof raw));
  unsigned char digest[32];
  mac(signed_part, digest);
  return signed_part + "." +
         base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::optional<access_claims> token_signer::verify(std::string_view token,
                                                  std::int64_t now_s) const {
  if (token.size() > 256 || !token.starts_with("v1.")) return std::nullopt;
  auto dot = token.rfind('.');
  if (dot <= 3) return std::nullopt;
  std::string_view signed_part = token.substr(0, dot);
  // Decoded on the stack: this runs for every authenticated request.
  char signature[256];
  auto signature_size = base64url_decode_into(token.substr(dot + 1), signature);
  unsigned char digest[32];
  mac(signed_part, digest);
  if (!signature_size ||
      !constant_time_equal(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest),
                           std::string_view(signature, *signature_size))) {
    return std::nullopt;
  }
  char raw[256];
  auto raw_size = base64url_decode_into(signed_part.substr(3), raw);
  if (!raw_size || *raw_size != 16) return std::nullopt;
  access_claims claims;
  std::memcpy(&claims.user_id, raw, 8);
  std::memcpy(&claims.expires_at_s, raw + 8, 8);
  if (claims.user_id <= 0 || claims.expires_at_s <= now_s) return std::nullopt;
  return claims;
}

namespace {

constexpr std::size_t parsed_refresh_token_length_max = 128;  // longer: not one we made
constexpr std::size_t refresh_family_bytes = 16;
constexpr std::size_t refresh_family_length = 22;  // base64url of 16 bytes, no padding
constexpr std::size_t refresh_secret_bytes = 32;

}  // namespace

std::string make_refresh_family() {
  return base64url_encode(random_bytes(refresh_family_bytes));
}

std::string refresh_family_of(const refresh_token_parts& parts, std::string_view token) {
  if (!parts.family.empty()) return std::string(parts.family);
  return base64url_encode(std::string_view(sha256_string(token)).substr(0, refresh_family_bytes));
}

std::string make_refresh_token(std::int64_t user_id, std::string_view family) {
  return "r2." + std::to_string(user_id) + "." + std::string(family) + "." +
         base64url_encode(random_bytes(refresh_secret_bytes));
}

std::optional<refresh_token_parts> parse_refresh_token(std::string_view token) {
  if (token.size() > parsed_refresh_token_length_max) return std::nullopt;
  bool has_family = token.starts_with("r2.");
  if (!has_family && !token.starts_with("r1.")) return std::nullopt;
  token.remove_prefix(3);
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  refresh_token_parts parts;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + dot, parts.user_id);
  if (ec != std::errc() || ptr != token.data() + dot || parts.user_id <= 0) return std::nullopt;
  if (has_family) {
    // The family as make_refresh_family writes it: 16 bytes in 22 base64url characters.
    std::string_view rest = token.substr(dot + 1);
    auto end = rest.find('.');
    if (end != refresh_family_length || end + 1 == rest.size()) return std::nullopt;
    parts.family = rest.substr(0, end);
    for (char c : parts.family) {
      bool base64url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_';
      if (!base64url) return std::nullopt;
    }
  }
  return parts;
}

}  // namespace ecom::net
