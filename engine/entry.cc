#include "engine/entry.h"

#include "engine/assert.h"
#include "engine/wire.h"

namespace keel {
namespace {

// Field numbers of engine/raft.proto's Entry.
constexpr int kTerm = 1;
constexpr int kIndex = 2;
constexpr int kType = 3;
constexpr int kData = 4;

// Enums are int32 on the wire: a negative value would take 10 bytes (sign-extended).
uint64_t TypeOnWire(const Entry& entry) { return static_cast<uint64_t>(static_cast<int64_t>(entry.type())); }

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

// Fields in number order, as protobuf's serializer writes them: the bytes are identical, which
// entry_test.cc checks against SerializeToString.
void AppendEncoded(const Entry& entry, std::string* out) {
  const size_t before = out->size();
  wire::AppendVarintField(kTerm, entry.term(), out);
  wire::AppendVarintField(kIndex, entry.index(), out);
  wire::AppendVarintField(kType, TypeOnWire(entry), out);
  if (!entry.data().empty()) {
    wire::AppendLengthDelimitedHeader(kData, entry.data().size(), out);
    out->append(entry.data());
  }
  KEEL_ASSERT(out->size() - before == EncodedSize(entry));
}

uint64_t EncodedSize(const Entry& entry) {
  return wire::VarintFieldSize(entry.term()) + wire::VarintFieldSize(entry.index()) +
         wire::VarintFieldSize(TypeOnWire(entry)) +
         (entry.data().empty() ? 0 : wire::LengthDelimitedFieldSize(entry.data().size()));
}

}  // namespace keel
