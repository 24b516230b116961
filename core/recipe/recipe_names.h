// How a recipe's values are spelled: one table per enum serves the parser, the emitter and the
// messages, with the lookups and message helpers built on them. Not for use outside core/recipe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/recipe/recipe.h"

namespace quench::recipe_internal {

template <typename E>
struct Named {
  std::string_view name;
  E value;
};

inline constexpr Named<QuantMethod> kMethods[] = {
    {"rtn", QuantMethod::kRtn}, {"gptq", QuantMethod::kGptq}, {"awq", QuantMethod::kAwq}};
inline constexpr Named<GridKind> kGridKinds[] = {
    {"int", GridKind::kInt},      {"fp8", GridKind::kFp8},     {"nf4", GridKind::kNf4},
    {"fp4", GridKind::kFp4},      {"mxfp4", GridKind::kMxFp4}, {"mxfp8", GridKind::kMxFp8},
    {"mxint8", GridKind::kMxInt8}};
inline constexpr Named<Granularity> kGranularities[] = {{"tensor", Granularity::kTensor},
                                                        {"channel", Granularity::kChannel},
                                                        {"group", Granularity::kGroup}};
inline constexpr Named<DType> kScaleDTypes[] = {
    {"fp32", DType::kF32}, {"fp16", DType::kF16}, {"bf16", DType::kBF16}};
inline constexpr Named<Observer> kObservers[] = {
    {"minmax", Observer::kMinMax}, {"percentile", Observer::kPercentile}, {"mse", Observer::kMse}};

// Output formats. fake_quant and quench are always written (the exports are made from
// quench.safetensors); gptq writes v1 zero points ("zero − 1"), gptq_v2 stores them as they are.
inline constexpr std::string_view kOutputNames[] = {
    "fake_quant", "quench", "gptq", "gptq_v2", "awq", "compressed_tensors", "gguf"};

// Joins names with ", " for messages.
template <typename Range>
std::string JoinNames(const Range& names) {
  std::string joined;
  for (const auto& name : names) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

template <typename E, size_t N>
std::string JoinNames(const Named<E> (&table)[N]) {
  std::vector<std::string_view> names;
  for (const auto& entry : table) names.push_back(entry.name);
  return JoinNames(names);
}

template <typename E, size_t N>
std::string_view NameOf(const Named<E> (&table)[N], E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const Named<E> (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

template <size_t N>
bool Contains(const std::string_view (&names)[N], std::string_view name) {
  for (std::string_view known : names) {
    if (known == name) return true;
  }
  return false;
}

// "parent.key", or "key" at the top level.
std::string JoinPath(std::string_view parent, std::string_view key);

// The shortest text that reads back as the same double ("?" if it cannot be formatted).
std::string FormatNumber(double value);

}  // namespace quench::recipe_internal
