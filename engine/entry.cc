#include "engine/entry.h"

#include "engine/assert.h"
#include "engine/wire.h"

namespace keel {
namespace {

using wire::AppendVarint;
using wire::Tag;
using wire::VarintSize;
constexpr uint8_t kVarintWireType = wire::kVarint;
constexpr uint8_t kLengthDelimitedWireType = wire::kLengthDelimited;

const std::string& EmptyString() {
  static const std::string* const empty = new std::string();
  return *empty;
}

}  // namespace

Entry::Entry(Term term, Index index, raftpb::EntryType type, std::string data)
    : term_(term), index_(index), type_(type) {
  set_data(std::move(data));
}

const std::string& Entry::data() const { return data_ ? *data_ : EmptyString(); }

void Entry::set_data(std::string data) {
  if (data.empty()) {
    data_.reset();
  } else {
    data_ = std::make_shared<const std::string>(std::move(data));
  }
}

bool operator==(const Entry& a, const Entry& b) {
  return a.term_ == b.term_ && a.index_ == b.index_ && a.type_ == b.type_ &&
         (a.data_ == b.data_ || a.data() == b.data());
}

Entry FromProto(const raftpb::Entry& proto) {
  return Entry(proto.term(), proto.index(), proto.type(), proto.data());
}

Entry FromProto(raftpb::Entry&& proto) {
  return Entry(proto.term(), proto.index(), proto.type(), std::move(*proto.mutable_data()));
}

void ToProto(const Entry& entry, raftpb::Entry* out) {
  out->set_term(entry.term());
  out->set_index(entry.index());
  out->set_type(entry.type());
  out->set_data(entry.data());
}

raftpb::Entry ToProto(const Entry& entry) {
  raftpb::Entry proto;
  ToProto(entry, &proto);
  return proto;
}

// Field numbers and order follow engine/raft.proto's Entry (term = 1, index = 2, type = 3,
// data = 4), as protobuf's serializer writes them: the bytes are identical, which
// entry_test.cc checks against SerializeToString.
void AppendEncoded(const Entry& entry, std::string* out) {
  const size_t before = out->size();
  if (entry.term() != 0) {
    out->push_back(static_cast<char>(Tag(1, kVarintWireType)));
    AppendVarint(entry.term(), out);
  }
  if (entry.index() != 0) {
    out->push_back(static_cast<char>(Tag(2, kVarintWireType)));
    AppendVarint(entry.index(), out);
  }
  if (entry.type() != raftpb::ENTRY_NORMAL) {
    out->push_back(static_cast<char>(Tag(3, kVarintWireType)));
    // Enums are int32 on the wire: a negative value would take 10 bytes (sign-extended).
    AppendVarint(static_cast<uint64_t>(static_cast<int64_t>(entry.type())), out);
  }
  if (!entry.data().empty()) {
    out->push_back(static_cast<char>(Tag(4, kLengthDelimitedWireType)));
    AppendVarint(entry.data().size(), out);
    out->append(entry.data());
  }
  KEEL_ASSERT(out->size() - before == EncodedSize(entry));
}

uint64_t EncodedSize(const Entry& entry) {
  uint64_t size = 0;
  if (entry.term() != 0) size += 1 + VarintSize(entry.term());
  if (entry.index() != 0) size += 1 + VarintSize(entry.index());
  if (entry.type() != raftpb::ENTRY_NORMAL) {
    size += 1 + VarintSize(static_cast<uint64_t>(static_cast<int64_t>(entry.type())));
  }
  if (!entry.data().empty()) size += 1 + VarintSize(entry.data().size()) + entry.data().size();
  return size;
}

}  // namespace keel
