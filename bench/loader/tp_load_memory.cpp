// Peak resident memory of a tensor-parallel rank while it loads its slice (issue 16 items 3
// and 7): a synthetic Llama-shaped checkpoint in bf16, two shards + model.safetensors.index.json,
// loaded by every rank of the MPI world as one group (`mpirun -np T`), or whole without a
// launcher. Each rank reports getrusage's ru_maxrss before and after Model::load and the bytes of
// weights it holds. A benchmark, not a test: nothing is asserted.
//
// usage: tp_load_memory --write DIR [--d 2048 --heads 16 --kv 8 --mlp 5504 --vocab 32000
//                                    --layers 4]      (writes the checkpoint, once)
//        [mpirun -np T] tp_load_memory DIR              (loads it; prints one line per rank)
#include <mpi.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "collectives/mpi_collective.h"
#include "model/model.h"
#include "model/safetensors_writer.h"

namespace fs = std::filesystem;
using namespace csweep::model;

namespace {

double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

TensorBytes bf16(const std::string& name, std::vector<int64_t> shape, double mean, double std) {
  at::Tensor t = (at::randn(shape) * std + mean).to(at::kBFloat16).contiguous();
  TensorBytes b{name, DType::BF16, std::move(shape), {}};
  b.bytes.resize(static_cast<size_t>(t.nbytes()));
  std::memcpy(b.bytes.data(), t.data_ptr(), b.bytes.size());
  return b;
}

void write_checkpoint(const fs::path& dir, const std::map<std::string, int64_t>& s) {
  const int64_t d = s.at("d"), h = s.at("heads"), kv = s.at("kv"), m = s.at("mlp"),
                V = s.at("vocab"), L = s.at("layers"), dh = d / h;
  fs::create_directories(dir);
  nlohmann::json weight_map = nlohmann::json::object();
  size_t total = 0;
  auto shard = [&](const std::string& file, std::vector<TensorBytes> tensors) {
    for (const TensorBytes& t : tensors) {
      weight_map[t.name] = file;
      total += t.bytes.size();
    }
    write_safetensors(dir / file, std::move(tensors));
  };
  std::vector<TensorBytes> first{bf16("model.embed_tokens.weight", {V, d}, 0, 0.02)};
  std::vector<TensorBytes> layers;
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    layers.push_back(bf16(p + "input_layernorm.weight", {d}, 1, 0));
    layers.push_back(bf16(p + "self_attn.q_proj.weight", {h * dh, d}, 0, 0.02));
    layers.push_back(bf16(p + "self_attn.k_proj.weight", {kv * dh, d}, 0, 0.02));
    layers.push_back(bf16(p + "self_attn.v_proj.weight", {kv * dh, d}, 0, 0.02));
    layers.push_back(bf16(p + "self_attn.o_proj.weight", {d, h * dh}, 0, 0.02));
    layers.push_back(bf16(p + "post_attention_layernorm.weight", {d}, 1, 0));
    layers.push_back(bf16(p + "mlp.gate_proj.weight", {m, d}, 0, 0.02));
    layers.push_back(bf16(p + "mlp.up_proj.weight", {m, d}, 0, 0.02));
    layers.push_back(bf16(p + "mlp.down_proj.weight", {d, m}, 0, 0.02));
    if (l == L / 2 - 1) {
      for (TensorBytes& t : layers) first.push_back(std::move(t));
      layers.clear();
    }
  }
  layers.push_back(bf16("model.norm.weight", {d}, 1, 0));
  layers.push_back(bf16("lm_head.weight", {V, d}, 0, 0.02));
  shard("model-00001-of-00002.safetensors", std::move(first));
  shard("model-00002-of-00002.safetensors", std::move(layers));
  nlohmann::json index{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::ofstream(dir / "model.safetensors.index.json") << index.dump(2);
  nlohmann::json config{{"architectures", {"LlamaForCausalLM"}},
                        {"model_type", "llama"},
                        {"hidden_size", d},
                        {"intermediate_size", m},
                        {"num_hidden_layers", L},
                        {"num_attention_heads", h},
                        {"num_key_value_heads", kv},
                        {"vocab_size", V},
                        {"max_position_embeddings", 2048},
                        {"rms_norm_eps", 1e-5},
                        {"rope_theta", 10000.0},
                        {"hidden_act", "silu"},
                        {"tie_word_embeddings", false},
                        {"torch_dtype", "bfloat16"}};
  std::ofstream(dir / "config.json") << config.dump(2);
  std::printf("wrote %s: %.1f MiB of bf16 weights\n", dir.c_str(), total / 1048576.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--write") {
    std::map<std::string, int64_t> s{{"d", 2048},   {"heads", 16},    {"kv", 8},
                                     {"mlp", 5504}, {"vocab", 32000}, {"layers", 4}};
    for (int i = 3; i + 1 < argc; i += 2)
      s[std::string(argv[i]).substr(2)] = std::stoll(argv[i + 1]);
    write_checkpoint(argv[2], s);
    return 0;
  }
  if (argc != 2) {
    std::fprintf(stderr, "usage: tp_load_memory --write DIR [--d N ...] | tp_load_memory DIR\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const double before = max_rss_mib();
  auto group = csweep::collectives::MpiCollective::split(MPI_COMM_WORLD, 0, rank);
  LoadOptions options;
  options.dtype = at::kBFloat16;
  if (size > 1) options.tensor_parallel = group.get();
  double held = 0;
  {
    auto model = Model::load(argv[1], options);
    for (auto& [name, t] : model->mutable_weights().named()) held += t->nbytes() / 1048576.0;
  }
  const double peak = max_rss_mib();
  std::vector<double> mine{before, peak, held}, all(static_cast<size_t>(3 * size));
  MPI_Gather(mine.data(), 3, MPI_DOUBLE, all.data(), 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank == 0)
    for (int r = 0; r < size; ++r)
      std::printf("T=%d rank %d: peak RSS %.1f MiB (%.1f before loading), weights held %.1f MiB\n",
                  size, r, all[3 * r + 1], all[3 * r], all[3 * r + 2]);
  MPI_Finalize();
  return 0;
}
