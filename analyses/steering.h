#pragma once
// The steering kind (jobs/kinds/steering.cpp owns its grid): each cell adds scale x v at a
// residual-stream site of one layer and reads the last position of the steered run.
#include <ATen/ATen.h>

#include "analyses/run_cache.h"
#include "analyses/sweep.h"

namespace csweep::analyses {

// The quantity axis's entries, in this order (the registry's choices).
enum class SteeringQuantity { Metric, KL, TopToken };

// The direction added at each layer, [n_layers, d_model] float32 on the model's device: the
// request's direction (a [d_model] one at every layer), or, when it has none, the mean over
// steering.plus of the last position's activation at request.point minus the same mean over
// steering.minus, from the prompts' unedited runs (cached in `caches`, computed once per store);
// with steering.probe_l2 > 0, instead the weight (bias dropped) of a ridge probe fitted per layer
// on those last positions to tell plus (target 1) from minus (0).
// With steering.normalize each layer's row has unit L2 norm (a zero row stays zero).
// Throws csweep::Error "analysis: steering.FIELD: reason" on a direction of the wrong shape.
at::Tensor steering_directions(const model::Model& model, const SweepRequest& request,
                               CacheStore& caches);

}  // namespace csweep::analyses
