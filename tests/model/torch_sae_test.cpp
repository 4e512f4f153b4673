// SAELens SAEs: csweep's encode/decode against SAELens 6.x's own on the SAEs it saved
// (tests/model/reference/make_sae_fixtures.py), and the one-line errors of a bad SAE folder.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/sae.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "tests/error_of.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using csweep::model::load_sae;
using csweep::model::Sae;
using csweep::testing::error_of;

namespace {

fs::path fixture(const std::string& name) {
  return csweep::testing::source_path("tests/model/fixtures/sae/" + name);
}

at::Tensor reference(const std::string& name, const std::string& tensor) {
  const auto file = csweep::model::SafetensorsFile::open(fixture(name) / "reference.safetensors");
  const auto* e = file->find(tensor);
  if (!e) throw std::runtime_error("no " + tensor);
  return csweep::model::to_tensor(*e, csweep::model::scalar_type(e->dtype), at::kCPU);
}

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

class SaeLensEquality : public ::testing::TestWithParam<std::string> {};

TEST_P(SaeLensEquality, EncodeAndDecodeEqualSaeLens) {
  const std::string name = GetParam();
  const Sae sae = load_sae(fixture(name));
  const at::Tensor x = reference(name, "x");
  const at::Tensor acts = sae.encode(x);
  const at::Tensor recon = sae.decode(acts, sae.norm_of(x), x.dim() == 4 ? x.size(2) : 0);
  ASSERT_EQ(acts.sizes(), reference(name, "acts").sizes());
  ASSERT_EQ(recon.sizes(), reference(name, "recon").sizes());
  EXPECT_EQ(acts.scalar_type(), x.scalar_type());
  // The same LibTorch computes both in bfloat16; fp32 is the 1e-5.
  const double tol = sae.dtype() == at::kBFloat16 ? 1e-2 : 1e-5;
  const double acts_err = max_abs(acts, reference(name, "acts"));
  const double recon_err = max_abs(recon, reference(name, "recon"));
  EXPECT_LE(acts_err, tol) << name;
  EXPECT_LE(recon_err, tol) << name;
  std::printf("%s: max |acts - SAELens| %.3g, max |recon - SAELens| %.3g\n", name.c_str(), acts_err,
              recon_err);
  // The same features fire.
  EXPECT_TRUE(at::equal(acts > 0, reference(name, "acts") > 0)) << name;
}

INSTANTIATE_TEST_SUITE_P(Architectures, SaeLensEquality,
                         ::testing::Values("standard", "standard_layer_norm", "topk",
                                           "topk_rescaled", "jumprelu", "jumprelu_bfloat16",
                                           "standard_hook_z"));

TEST(Sae, ReadsTheConfigAsSaeLensWroteIt) {
  const Sae topk = load_sae(fixture("topk_rescaled"));
  EXPECT_EQ(topk.config.architecture, csweep::model::SaeArchitecture::TopK);
  EXPECT_EQ(topk.config.k, 7);
  EXPECT_TRUE(topk.config.rescale_acts_by_decoder_norm);
  EXPECT_EQ(topk.config.normalize, csweep::model::SaeNormalization::ConstantNormRescale);
  EXPECT_EQ(topk.config.site.name(), "blocks.1.hook_attn_out");
  const Sae z = load_sae(fixture("standard_hook_z"));
  EXPECT_TRUE(z.config.reshape_hook_z);
  EXPECT_EQ(z.config.site.name(), "blocks.0.attn.hook_z");
  EXPECT_EQ(load_sae(fixture("jumprelu_bfloat16")).dtype(), at::kBFloat16);
}

// A copy of the standard fixture with cfg.json edited by `edit`.
fs::path edited_copy(const std::string& name, void (*edit)(nlohmann::json&)) {
  const fs::path dir = csweep::testing::fresh_test_dir("model", "sae-" + name);
  fs::copy(fixture("standard"), dir);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir / "cfg.json"));
  edit(cfg);
  std::ofstream(dir / "cfg.json") << cfg.dump();
  return dir;
}

TEST(Sae, BadFoldersAreOneLineErrorsNamingFileAndField) {
  const fs::path gated =
      edited_copy("gated", [](nlohmann::json& c) { c["architecture"] = "gated"; });
  EXPECT_EQ(error_of([&] { load_sae(gated); }),
            (gated / "cfg.json").string() +
                ": architecture: unknown architecture \"gated\" (csweep reads standard, topk, "
                "jumprelu)");
  const fs::path wide = edited_copy("wide", [](nlohmann::json& c) { c["d_sae"] = 41; });
  EXPECT_EQ(error_of([&] { load_sae(wide); }),
            (wide / "sae_weights.safetensors").string() +
                ": tensor 'W_enc': shape [16,40], expected [16,41] from cfg.json's d_in and d_sae");
  const fs::path no_hook =
      edited_copy("no-hook", [](nlohmann::json& c) { c["metadata"].erase("hook_name"); });
  EXPECT_EQ(error_of([&] { load_sae(no_hook); }),
            (no_hook / "cfg.json").string() +
                ": metadata.hook_name: missing (the TransformerLens hook the SAE reads)");
  const fs::path bad_hook = edited_copy(
      "bad-hook", [](nlohmann::json& c) { c["metadata"]["hook_name"] = "blocks.0.hook_nope"; });
  EXPECT_NE(
      error_of([&] { load_sae(bad_hook); }).find("cfg.json: hook_name: \"blocks.0.hook_nope\""),
      std::string::npos);
  const fs::path norm = edited_copy(
      "norm", [](nlohmann::json& c) { c["normalize_activations"] = "covariance_whitening"; });
  EXPECT_NE(error_of([&] { load_sae(norm); }).find("cfg.json: normalize_activations: unsupported"),
            std::string::npos);
  const fs::path one_head =
      edited_copy("one-head", [](nlohmann::json& c) { c["metadata"]["hook_head_index"] = 2; });
  EXPECT_EQ(error_of([&] { load_sae(one_head); }),
            (one_head / "cfg.json").string() +
                ": hook_head_index: 2: SAEs of a single head are not supported (csweep reads "
                "whole sites)");
  EXPECT_NE(error_of([&] { load_sae(fixture("absent")); }).find("cfg.json: cannot open"),
            std::string::npos);
}

TEST(Sae, DInMustBeTheSiteWidthOfTheModel) {
  const auto sae = csweep::model::read_sae_config(fixture("standard"));  // d_in 16
  csweep::model::ModelConfig model;
  model.arch = csweep::model::Arch::Gpt2;
  model.n_layers = 2;
  model.d_model = 16;
  model.n_heads = 4;
  model.d_head = 4;
  model.d_mlp = 64;
  EXPECT_EQ(csweep::model::sae_model_problem(sae, model), "");
  model.d_model = 64;
  EXPECT_EQ(csweep::model::sae_model_problem(sae, model),
            (fixture("standard") / "cfg.json").string() +
                ": d_in: 16 is not the width of blocks.0.hook_resid_pre in this model (64)");
  const auto deep = csweep::model::read_sae_config(fixture("jumprelu"));  // blocks.2
  EXPECT_NE(csweep::model::sae_model_problem(deep, model).find("cfg.json: hook_name: "),
            std::string::npos);
}

}  // namespace
