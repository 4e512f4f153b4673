#include "model/layers.h"

namespace csweep::model {
namespace {

at::Tensor activate(const at::Tensor& x, Activation a) {
  switch (a) {
    case Activation::GeluTanh: return at::gelu(x, "tanh");
    case Activation::GeluErf: return at::gelu(x);
    case Activation::Silu: return at::silu(x);
    case Activation::Relu: return at::relu(x);
  }
  return x;
}

}  // namespace

at::Tensor mlp(const at::Tensor& x, const LayerWeights& w, const ModelConfig& c, int64_t layer, Hooks* hooks) {
  at::Tensor post;
  if (c.gated_mlp) {  // SwiGLU: down(act(gate(x)) * up(x))
    at::Tensor pre = at::linear(x, w.W_gate);
    visit(hooks, HookPoint::MlpPre, layer, pre);
    at::Tensor pre_linear = at::linear(x, w.W_in, w.b_in);
    visit(hooks, HookPoint::MlpPreLinear, layer, pre_linear);
    post = activate(pre, c.activation) * pre_linear;
  } else {
    at::Tensor pre = at::linear(x, w.W_in, w.b_in);
    visit(hooks, HookPoint::MlpPre, layer, pre);
    post = activate(pre, c.activation);
  }
  visit(hooks, HookPoint::MlpPost, layer, post);
  at::Tensor out = at::linear(post, w.W_out, w.b_out);
  visit(hooks, HookPoint::MlpOut, layer, out);
  return out;
}

}  // namespace csweep::model
