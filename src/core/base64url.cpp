// Strict base64url codec (see base64url.h).
#include "core/base64url.h"

#include <array>
#include <cstdint>

namespace dbx_oauth::core {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr int8_t kInvalid = -1;

constexpr std::array<int8_t, 256> make_decode_table() {
  std::array<int8_t, 256> table{};
  for (auto& entry : table) entry = kInvalid;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return table;
}

constexpr std::array<int8_t, 256> kDecode = make_decode_table();

}  // namespace

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  if (!base64url_decode_into(text, out)) return std::nullopt;
  return out;
}

bool base64url_decode_into(std::string_view text, std::string& out) {
  // One leftover character carries only 6 bits: never a whole byte.
  const std::size_t rest = text.size() % 4;
  if (rest == 1) return false;

  // Four characters at a time into a buffer sized up front: every token
  // validation decodes three segments, so this loop is on the login path.
  const std::size_t quads = text.size() / 4;
  out.resize(quads * 3 + (rest == 0 ? 0 : rest - 1));
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  char* o = out.data();
  for (std::size_t i = 0; i < quads; ++i, in += 4, o += 3) {
    const int a = kDecode[in[0]], b = kDecode[in[1]], c = kDecode[in[2]], d = kDecode[in[3]];
    if ((a | b | c | d) < 0) return false;  // kInvalid is the only negative entry
    const uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6) | uint32_t(d);
    o[0] = static_cast<char>(v >> 16);
    o[1] = static_cast<char>((v >> 8) & 0xff);
    o[2] = static_cast<char>(v & 0xff);
  }
  if (rest > 0) {
    const int a = kDecode[in[0]], b = kDecode[in[1]], c = rest == 3 ? kDecode[in[2]] : 0;
    if ((a | b | c) < 0) return false;
    // The bits after the last whole byte (4 of b, or 2 of c) must be zero,
    // otherwise several encodings would decode to the same bytes.
    if (rest == 2 ? (b & 0x0f) != 0 : (c & 0x03) != 0) return false;
    const uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6);
    o[0] = static_cast<char>(v >> 16);
    if (rest == 3) o[1] = static_cast<char>((v >> 8) & 0xff);
  }
  return true;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  uint32_t accumulator = 0;
  int bits = 0;
  for (char c : bytes) {
    accumulator = (accumulator << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(accumulator >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(accumulator << (6 - bits)) & 0x3f]);
  return out;
}

}  // namespace dbx_oauth::core
