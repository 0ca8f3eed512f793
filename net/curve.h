// CURVE keys for keel's two ZeroMQ ports (CurveZMQ: X25519 key exchange, then every frame
// encrypted and authenticated). Keys are written and read as Z85 text, the form ZeroMQ uses:
// 40 characters for 32 bytes.
//
// Files (plain text; blank lines and lines starting with '#' are ignored, except a line that
// is a key by itself, since '#' and '=' are Z85 characters):
//   key pair  (`keel keygen --out NAME` writes NAME.key, mode 0600, and NAME.pub):
//               public=<z85>
//               secret=<z85>
//   public key (NAME.pub): the 40 characters on one line.
//   key list  (allowlists, server keys): one key per line, either `<z85>` or `<name>=<z85>`;
//             for --peer-keys the name is the node id, for a client's --server-keys the name
//             is the endpoint host:port (a line without a name applies to every endpoint).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace keel::net {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// One entry of a key list: the name (may be empty) and the Z85 key.
struct NamedKey {
  std::string name;
  std::string key;
};

// True if `z85` is 40 Z85 characters (decodes to a 32-byte key).
bool IsCurveKey(const std::string& z85);

// A fresh key pair from libsodium's generator (through zmq_curve_keypair). Unavailable if
// this libzmq was built without CURVE.
absl::StatusOr<CurveKeyPair> GenerateCurveKeyPair();

// Writes `<out>.key` (the pair, created with mode 0600; refuses to overwrite) and `<out>.pub`.
absl::Status WriteCurveKeyPair(const std::string& out, const CurveKeyPair& pair);

// Reads a key pair file. InvalidArgument naming the file and line for anything malformed,
// a missing half, or a public key that is not the secret key's (a pasted mismatch would
// otherwise fail only at the first handshake, with no reason given).
absl::StatusOr<CurveKeyPair> ReadCurveKeyPair(const std::string& path);

// Reads a key list (or a public key file: a list of one). InvalidArgument naming the file and
// line for a malformed key or a name listed twice; an empty list is an error too (an empty
// allowlist would refuse everyone, which is never what was meant).
absl::StatusOr<std::vector<NamedKey>> ReadCurveKeyList(const std::string& path);

// The Z85 text of a 32-byte binary key (as ZAP hands it over), or "" if it is not 32 bytes.
std::string CurveKeyToZ85(const std::string& binary);

}  // namespace keel::net
