// Protocol buffer messages as EDN maps, so that histories of keel's own commands read like any
// Jepsen history: `{:pool "app/db", :owner "c1"}`, `{:code :ok, :slot 0}`.
//
// Field names become keywords with '_' written as '-'. Only fields that are set appear (proto3
// scalars that are not zero, messages that are present, repeated fields that are not empty),
// in field-number order, so a message has one EDN text. Enums become keywords without the
// enum's prefix, lower case with '-': CODE_NOT_HELD is :not-held, POLICY_ROUND_ROBIN is
// :round-robin. Strings and bytes are EDN strings, integers and bools are themselves, nested
// messages are maps and repeated fields vectors. 64-bit unsigned values above 2^63 - 1 are not
// representable (EDN integers are signed) and are refused when encoding.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "sim/checker/edn.h"

namespace keel::checker {

// The message as an EDN map. Fails only on a uint64 above INT64_MAX.
absl::StatusOr<edn::Value> ProtoToEdn(const google::protobuf::Message& message);
// ProtoToEdn(message).status(), without building the value: for a writer that keeps the
// message and writes its EDN only when asked, so that an unwritable value fails alike in
// every mode.
absl::Status FitsEdn(const google::protobuf::Message& message);

// Fills `message` (cleared first) from an EDN map written by ProtoToEdn or by hand. Errors
// (InvalidArgument) name the field and what was wrong: not a map, an unknown keyword, a value
// of the wrong type or out of range, an unknown enum keyword.
absl::Status ProtoFromEdn(const edn::Value& value, google::protobuf::Message& message);

// "pool-acquire" for a field called "pool_acquire", and back.
std::string FieldToKeyword(const std::string& field_name);
std::string KeywordToField(const std::string& keyword);

}  // namespace keel::checker
