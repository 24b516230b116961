// Fuzz target: config.json parsing on arbitrary text.
#include "core/model/model_spec.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = quench::ParseModelSpec(text, "fuzz/config.json");
  if (spec.ok()) {
    for (auto role : quench::kAllLinearRoles) (void)spec->LinearShape(role);
  }
  return 0;
}

std::vector<std::string> FuzzSeeds() {
  return {
      R"({"architectures":["LlamaForCausalLM"],"vocab_size":100,"hidden_size":64,
          "intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,
          "num_key_value_heads":2,"rope_scaling":{"rope_type":"llama3","factor":8.0,
          "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}})",
      R"({"architectures":["OPTForCausalLM"],"vocab_size":50272,"hidden_size":768,"ffn_dim":3072,
          "num_hidden_layers":12,"num_attention_heads":12,"do_layer_norm_before":true})",
  };
}
