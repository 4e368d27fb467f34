//! Parameters: every tensor of a model lives in ONE flat GPU buffer (and its gradient in
//! another of the same layout), so the optimiser, the EMA and the gradient norm are one
//! dispatch each. Layers hold [`ParamId`]s and ask the store for views.

use std::collections::HashMap;

use anyhow::Result;

use crate::maths::random::Rng;
use crate::{Gpu, Tensor};

/// How a parameter starts training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// The DDPM paper's default: variance scaling, fan-average, uniform
    /// (`U(-sqrt(3 * scale / fan_avg), +...)`), with `scale` = 1 or 1e-10 ("zero" layers: the
    /// last conv of each residual block, the attention output and the output conv, whose
    /// weights and biases we set to exactly zero).
    FanAvgUniform {
        fan_in: usize,
        fan_out: usize,
    },
    Zeros,
    Ones,
}

#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub usize);

/// Collects parameter specs while a model's layers are built.
#[derive(Default, Debug, Clone)]
pub struct Registry {
    pub specs: Vec<ParamSpec>,
}

impl Registry {
    pub fn add(&mut self, name: String, shape: &[usize], init: Init) -> ParamId {
        self.specs.push(ParamSpec {
            name,
            shape: shape.to_vec(),
            init,
        });
        ParamId(self.specs.len() - 1)
    }
    pub fn count(&self) -> usize {
        self.specs
            .iter()
            .map(|s| s.shape.iter().product::<usize>())
            .sum()
    }
}

/// Offsets of each parameter in the flat buffers: padded to 64 floats (256 bytes), the storage
/// binding offset alignment, so every parameter can be bound as a view.
#[derive(Clone, Debug)]
pub struct Layout {
    pub specs: Vec<ParamSpec>,
    pub offsets: Vec<usize>,
    pub total: usize,
    by_name: HashMap<String, usize>,
}

pub const ALIGN_FLOATS: usize = 64;

impl Layout {
    pub fn new(registry: &Registry) -> Layout {
        let mut offsets = Vec::with_capacity(registry.specs.len());
        let mut total = 0;
        for s in &registry.specs {
            offsets.push(total);
            total += s
                .shape
                .iter()
                .product::<usize>()
                .next_multiple_of(ALIGN_FLOATS);
        }
        let by_name = registry
            .specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Layout {
            specs: registry.specs.clone(),
            offsets,
            total,
            by_name,
        }
    }
    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
    pub fn numel(&self, i: usize) -> usize {
        self.specs[i].shape.iter().product()
    }
    /// Number of real parameters (without padding).
    pub fn count(&self) -> usize {
        (0..self.specs.len()).map(|i| self.numel(i)).sum()
    }

    /// The initial values of every parameter, in the flat layout (padding zero).
    pub fn initial_values(&self, seed: u64) -> Vec<f32> {
        let mut flat = vec![0.0f32; self.total];
        let mut rng = Rng::new(seed);
        for (i, s) in self.specs.iter().enumerate() {
            let dst = &mut flat[self.offsets[i]..self.offsets[i] + self.numel(i)];
            match s.init {
                Init::Zeros => {}
                Init::Ones => dst.fill(1.0),
                Init::FanAvgUniform { fan_in, fan_out } => {
                    let limit = (3.0 / ((fan_in + fan_out) as f64 / 2.0)).sqrt();
                    for v in dst {
                        *v = rng.range(-limit, limit) as f32;
                    }
                }
            }
        }
        flat
    }

    /// Places named tensors (e.g. from a safetensors file) into the flat layout. Every
    /// parameter must be present with its exact shape; extra tensors are an error too.
    pub fn flatten(&self, tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> Result<Vec<f32>> {
        let mut flat = vec![0.0f32; self.total];
        for (i, s) in self.specs.iter().enumerate() {
            let Some((shape, data)) = tensors.get(&s.name) else {
                crate::fail!(
                    File,
                    "missing tensor '{}' (the checkpoint is from a different architecture?)",
                    s.name
                );
            };
            if shape != &s.shape {
                crate::fail!(
                    File,
                    "tensor '{}' has shape {:?}, the model expects {:?} (different architecture?)",
                    s.name,
                    shape,
                    s.shape
                );
            }
            flat[self.offsets[i]..self.offsets[i] + data.len()].copy_from_slice(data);
        }
        if let Some(extra) = tensors.keys().find(|k| self.index(k).is_none()) {
            crate::fail!(
                File,
                "unexpected tensor '{extra}' (the checkpoint is from a different architecture?)"
            );
        }
        Ok(flat)
    }

    /// Splits a flat vector into named tensors (for saving).
    pub fn unflatten<'a>(
        &'a self,
        flat: &'a [f32],
    ) -> impl Iterator<Item = (&'a str, &'a [usize], &'a [f32])> {
        self.specs.iter().enumerate().map(move |(i, s)| {
            (
                s.name.as_str(),
                s.shape.as_slice(),
                &flat[self.offsets[i]..self.offsets[i] + self.numel(i)],
            )
        })
    }
}

/// The values and gradients of a model's parameters on the GPU.
pub struct ParamStore {
    pub layout: Layout,
    pub values: Tensor,
    /// Gradients, present only in a store made for training.
    pub grads: Option<Tensor>,
    value_views: Vec<Tensor>,
    grad_views: Vec<Tensor>,
}

impl ParamStore {
    /// A store for training: values uploaded from `flat_values`, gradients zeroed.
    pub fn new(gpu: &Gpu, layout: Layout, flat_values: &[f32]) -> ParamStore {
        assert_eq!(flat_values.len(), layout.total);
        let values = Tensor::from_slice(gpu, &[layout.total], flat_values);
        let grads = Tensor::zeros(gpu, &[layout.total]);
        Self::build(layout, values, Some(grads))
    }

    /// A store for inference over an existing flat tensor (e.g. the EMA weights), no gradients.
    pub fn for_inference(layout: Layout, values: Tensor) -> ParamStore {
        assert_eq!(values.numel(), layout.total);
        Self::build(layout, values, None)
    }

    fn build(layout: Layout, values: Tensor, grads: Option<Tensor>) -> ParamStore {
        let views = |t: &Tensor| -> Vec<Tensor> {
            (0..layout.specs.len())
                .map(|i| t.view(layout.offsets[i], &layout.specs[i].shape))
                .collect()
        };
        let value_views = views(&values);
        let grad_views = grads.as_ref().map(views).unwrap_or_default();
        ParamStore {
            layout,
            values,
            grads,
            value_views,
            grad_views,
        }
    }

    pub fn value(&self, id: ParamId) -> &Tensor {
        &self.value_views[id.0]
    }
    pub fn grad(&self, id: ParamId) -> &Tensor {
        self.grad_views
            .get(id.0)
            .expect("gradients exist only in a training store")
    }
    pub fn zero_grads(&self) {
        self.grads.as_ref().expect("a training store").fill_zero();
    }
}
