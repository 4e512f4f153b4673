#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/config.h"
#include "model/hook_site.h"
#include "tests/error_of.h"
#include "tests/test_paths.h"

using namespace csweep::model;
using csweep::testing::error_of;

TEST(ModelConfig, LoadsTheGpt2Fixture) {
  ModelConfig c = load_model_config(csweep::testing::shared_fixture("gpt2-tiny"));
  EXPECT_EQ(c.arch, Arch::Gpt2);
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.d_head, 16);
  EXPECT_EQ(c.d_mlp, 256);  // n_inner: null -> 4 * n_embd
  EXPECT_EQ(c.d_vocab, 1000);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.attn_scale, 0.25);
}

TEST(ModelConfig, ErrorsNameTheFileAndField) {
  nlohmann::json j = {
      {"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 64}, {"num_hidden_layers", "two"}};
  EXPECT_EQ(error_of([&] { parse_model_config(j, "dir/config.json"); }),
            "dir/config.json: num_hidden_layers: expected an integer, got \"two\"");
}

TEST(ModelConfig, NeoXPartialRotaryAndQwen3HeadDim) {
  nlohmann::json neox = {{"architectures", {"GPTNeoXForCausalLM"}},
                         {"num_hidden_layers", 2},
                         {"hidden_size", 64},
                         {"num_attention_heads", 4},
                         {"intermediate_size", 256},
                         {"vocab_size", 100},
                         {"rotary_pct", 0.25}};
  ModelConfig n = parse_model_config(neox, "n");
  EXPECT_EQ(n.rotary_dim, 4);
  EXPECT_TRUE(n.parallel_residual);
  nlohmann::json qwen3 = {{"architectures", {"Qwen3ForCausalLM"}},
                          {"num_hidden_layers", 2},
                          {"hidden_size", 64},
                          {"num_attention_heads", 4},
                          {"num_key_value_heads", 2},
                          {"head_dim", 32},
                          {"intermediate_size", 128},
                          {"vocab_size", 100}};
  ModelConfig q = parse_model_config(qwen3, "q");
  EXPECT_EQ(q.d_head, 32);
  EXPECT_EQ(q.kv_group(), 2);
  EXPECT_TRUE(q.qk_norm);
}

// Gemma 3 as transformers 5 saves it: rope_parameters per layer type, layer_types, linear rope
// scaling on the global layers only (Gemma 3 4B and up).
TEST(ModelConfig, Gemma3LayerTypesAndRopeParameters) {
  nlohmann::json g = {
      {"architectures", {"Gemma3ForCausalLM"}},
      {"model_type", "gemma3_text"},
      {"num_hidden_layers", 3},
      {"hidden_size", 64},
      {"intermediate_size", 128},
      {"num_attention_heads", 4},
      {"num_key_value_heads", 2},
      {"head_dim", 32},
      {"vocab_size", 100},
      {"query_pre_attn_scalar", 64},
      {"sliding_window", 8},
      {"final_logit_softcapping", 30.0},
      {"layer_types", {"sliding_attention", "full_attention", "sliding_attention"}},
      {"rope_parameters",
       {{"full_attention", {{"rope_type", "linear"}, {"factor", 8.0}, {"rope_theta", 1e6}}},
        {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}}}}};
  ModelConfig c = parse_model_config(g, "g");
  EXPECT_EQ(c.arch, Arch::Gemma3);
  EXPECT_EQ(c.local_layers, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(c.local_window, 8);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.local_rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.attn_scale, 0.125);
  EXPECT_DOUBLE_EQ(c.embed_scale, 8.0);
  EXPECT_EQ(c.final_logit_softcap, 30.0);
  EXPECT_TRUE(c.qk_norm && c.post_norms && c.gated_mlp && c.tie_word_embeddings);
  EXPECT_EQ(c.activation, Activation::GeluTanh);
  g["attn_logit_softcapping"] = 50.0;
  EXPECT_EQ(error_of([&] { parse_model_config(g, "g"); }),
            "g: attn_logit_softcapping: attention softcapping is not supported");
}

TEST(HookSite, NamesRoundTrip) {
  ModelConfig c = load_model_config(csweep::testing::shared_fixture("gpt2-tiny"));
  for (const HookSite& s : all_sites(c)) {
    auto parsed = parse_hook_site(s.name());
    ASSERT_TRUE(parsed.has_value()) << s.name();
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(parse_hook_site("blocks.2.attn.hook_z")->name(), "blocks.2.attn.hook_z");
  EXPECT_FALSE(parse_hook_site("blocks.x.attn.hook_z").has_value());
  EXPECT_FALSE(parse_hook_site("blocks.1.attn.hook_zz").has_value());
  std::string why;
  EXPECT_FALSE(site_exists(*parse_hook_site("blocks.3.hook_resid_pre"), c, &why));
  EXPECT_EQ(why, "layer 3 out of range (model has 3 layers: 0..2)");
}
