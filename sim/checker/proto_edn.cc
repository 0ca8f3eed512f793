#include "sim/checker/proto_edn.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace keel::checker {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// CODE_NOT_HELD -> "not-held" for enum Code.
std::string ComputeEnumKeyword(const EnumValueDescriptor& value) {
  const std::string prefix = absl::AsciiStrToUpper(value.type()->name()) + "_";
  std::string name = value.name();
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

// ComputeEnumKeyword, remembered per value (descriptors live as long as the process): every
// simulated operation writes a result code. Per thread, so that parallel checks share nothing;
// the map is only looked up, never iterated.
const std::string& EnumKeyword(const EnumValueDescriptor& value) {
  thread_local absl::flat_hash_map<const EnumValueDescriptor*, std::string> keywords;
  auto [it, inserted] = keywords.try_emplace(&value);
  if (inserted) it->second = ComputeEnumKeyword(value);
  return it->second;
}

const EnumValueDescriptor* EnumFromKeyword(const EnumDescriptor& type, const std::string& keyword) {
  for (int i = 0; i < type.value_count(); ++i) {
    if (EnumKeyword(*type.value(i)) == keyword) return type.value(i);
  }
  return nullptr;
}

absl::Status Uint64FitsEdn(const FieldDescriptor& field, uint64_t v) {
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(field.name(), " = ", v, " does not fit an EDN integer"));
  }
  return absl::OkStatus();
}

absl::Status UnsupportedType(const FieldDescriptor& field) {
  return absl::InvalidArgumentError(absl::StrCat(field.name(), ": unsupported field type"));
}

absl::StatusOr<edn::Value> ScalarToEdn(const Message& message, const FieldDescriptor& field, int index) {
  const Reflection& r = *message.GetReflection();
  const bool repeated = field.is_repeated();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return edn::Value::Integer(repeated ? r.GetRepeatedInt32(message, &field, index) : r.GetInt32(message, &field));
    case FieldDescriptor::CPPTYPE_INT64:
      return edn::Value::Integer(repeated ? r.GetRepeatedInt64(message, &field, index) : r.GetInt64(message, &field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return edn::Value::Integer(repeated ? r.GetRepeatedUInt32(message, &field, index) : r.GetUInt32(message, &field));
    case FieldDescriptor::CPPTYPE_UINT64: {
      const uint64_t v = repeated ? r.GetRepeatedUInt64(message, &field, index) : r.GetUInt64(message, &field);
      if (absl::Status fits = Uint64FitsEdn(field, v); !fits.ok()) return fits;
      return edn::Value::Integer(static_cast<int64_t>(v));
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      edn::Value v;
      v.kind = edn::Kind::kBool;
      v.boolean = repeated ? r.GetRepeatedBool(message, &field, index) : r.GetBool(message, &field);
      return v;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      return edn::Value::String(repeated ? r.GetRepeatedString(message, &field, index) : r.GetString(message, &field));
    case FieldDescriptor::CPPTYPE_ENUM:
      return edn::Value::Keyword(
          EnumKeyword(*(repeated ? r.GetRepeatedEnum(message, &field, index) : r.GetEnum(message, &field))));
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToEdn(repeated ? r.GetRepeatedMessage(message, &field, index) : r.GetMessage(message, &field));
    default:
      return UnsupportedType(field);
  }
}

absl::Status WrongType(const FieldDescriptor& field, absl::string_view wanted, const edn::Value& value) {
  return absl::InvalidArgumentError(
      absl::StrCat(":", FieldToKeyword(field.name()), " must be ", wanted, ", not ", edn::ToEdn(value)));
}

// Sets (or, for a repeated field, adds) one value.
absl::Status SetScalar(const edn::Value& value, const FieldDescriptor& field, Message& message) {
  const Reflection& r = *message.GetReflection();
  const bool repeated = field.is_repeated();
  auto integer_in = [&](int64_t lo, int64_t hi) -> absl::Status {
    if (!value.is_integer() || value.integer < lo || value.integer > hi) {
      return WrongType(field, absl::StrCat("an integer in [", lo, ", ", hi, "]"), value);
    }
    return absl::OkStatus();
  };
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      if (absl::Status s = integer_in(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()); !s.ok()) return s;
      repeated ? r.AddInt32(&message, &field, static_cast<int32_t>(value.integer))
               : r.SetInt32(&message, &field, static_cast<int32_t>(value.integer));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT64:
      if (!value.is_integer()) return WrongType(field, "an integer", value);
      repeated ? r.AddInt64(&message, &field, value.integer) : r.SetInt64(&message, &field, value.integer);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_UINT32:
      if (absl::Status s = integer_in(0, std::numeric_limits<uint32_t>::max()); !s.ok()) return s;
      repeated ? r.AddUInt32(&message, &field, static_cast<uint32_t>(value.integer))
               : r.SetUInt32(&message, &field, static_cast<uint32_t>(value.integer));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_UINT64:
      if (absl::Status s = integer_in(0, std::numeric_limits<int64_t>::max()); !s.ok()) return s;
      repeated ? r.AddUInt64(&message, &field, static_cast<uint64_t>(value.integer))
               : r.SetUInt64(&message, &field, static_cast<uint64_t>(value.integer));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL:
      if (value.kind != edn::Kind::kBool) return WrongType(field, "true or false", value);
      repeated ? r.AddBool(&message, &field, value.boolean) : r.SetBool(&message, &field, value.boolean);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_STRING:
      if (!value.is_string()) return WrongType(field, "a string", value);
      repeated ? r.AddString(&message, &field, value.text) : r.SetString(&message, &field, value.text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumValueDescriptor* e = value.is_keyword() ? EnumFromKeyword(*field.enum_type(), value.text) : nullptr;
      if (e == nullptr) return WrongType(field, absl::StrCat("a ", field.enum_type()->name(), " keyword"), value);
      repeated ? r.AddEnum(&message, &field, e) : r.SetEnum(&message, &field, e);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* nested = repeated ? r.AddMessage(&message, &field) : r.MutableMessage(&message, &field);
      return ProtoFromEdn(value, *nested);
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(field.name(), ": unsupported field type"));
  }
}

}  // namespace

std::string FieldToKeyword(const std::string& field_name) {
  if (field_name.find('_') == std::string::npos) return field_name;  // most names
  return absl::StrReplaceAll(field_name, {{"_", "-"}});
}

std::string KeywordToField(const std::string& keyword) {
  return absl::StrReplaceAll(keyword, {{"-", "_"}});
}

absl::StatusOr<edn::Value> ProtoToEdn(const Message& message) {
  edn::Value map;
  map.kind = edn::Kind::kMap;
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);  // set fields, by field number
  map.items.reserve(2 * fields.size());
  for (const FieldDescriptor* field : fields) {
    map.items.push_back(edn::Value::Keyword(FieldToKeyword(field->name())));
    if (!field->is_repeated()) {
      absl::StatusOr<edn::Value> value = ScalarToEdn(message, *field, 0);
      if (!value.ok()) return value.status();
      map.items.push_back(*std::move(value));
      continue;
    }
    std::vector<edn::Value> elements;
    elements.reserve(static_cast<size_t>(message.GetReflection()->FieldSize(message, field)));
    for (int i = 0; i < message.GetReflection()->FieldSize(message, field); ++i) {
      absl::StatusOr<edn::Value> value = ScalarToEdn(message, *field, i);
      if (!value.ok()) return value.status();
      elements.push_back(*std::move(value));
    }
    map.items.push_back(edn::Value::Vector(std::move(elements)));
  }
  return map;
}

absl::Status FitsEdn(const Message& message) {
  const Reflection& r = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r.ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const int n = field->is_repeated() ? r.FieldSize(message, field) : 1;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_BOOL:
      case FieldDescriptor::CPPTYPE_STRING:
      case FieldDescriptor::CPPTYPE_ENUM:
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        for (int i = 0; i < n; ++i) {
          const uint64_t v = field->is_repeated() ? r.GetRepeatedUInt64(message, field, i) : r.GetUInt64(message, field);
          if (absl::Status fits = Uint64FitsEdn(*field, v); !fits.ok()) return fits;
        }
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        for (int i = 0; i < n; ++i) {
          const Message& sub = field->is_repeated() ? r.GetRepeatedMessage(message, field, i) : r.GetMessage(message, field);
          if (absl::Status fits = FitsEdn(sub); !fits.ok()) return fits;
        }
        break;
      default:
        return UnsupportedType(*field);
    }
  }
  return absl::OkStatus();
}

absl::Status ProtoFromEdn(const edn::Value& value, Message& message) {
  message.Clear();
  const Descriptor& descriptor = *message.GetDescriptor();
  if (value.kind != edn::Kind::kMap) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", descriptor.name(), " must be a map, not ", edn::ToEdn(value)));
  }
  for (size_t i = 0; i + 1 < value.items.size(); i += 2) {
    const edn::Value& key = value.items[i];
    const edn::Value& item = value.items[i + 1];
    const FieldDescriptor* field =
        key.is_keyword() ? descriptor.FindFieldByName(KeywordToField(key.text)) : nullptr;
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(descriptor.name(), " has no field ", edn::ToEdn(key)));
    }
    if (!field->is_repeated()) {
      if (absl::Status s = SetScalar(item, *field, message); !s.ok()) return s;
      continue;
    }
    if (item.kind != edn::Kind::kVector && item.kind != edn::Kind::kList) {
      return WrongType(*field, "a vector", item);
    }
    for (const edn::Value& element : item.items) {
      if (absl::Status s = SetScalar(element, *field, message); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace keel::checker
