//! The float64 CPU tensor: the reference implementation of [`TensorOps`], built on this
//! module's reference functions. Running the generic U-Net on it gives the float64 reference
//! of the whole network, forward and backward, used for finite-difference gradient checks and
//! as the yardstick of the GPU path.

use std::cell::RefCell;
use std::rc::Rc;

use crate::model::{Layout, ParamId};
use crate::nn::{Params, TensorOps};
use crate::ops::conv::ConvGeometry;
use crate::reference::{attention, conv, elementwise, layout, matmul, norm, reduce, rng};

/// Shared f64 storage plus a shape; clones share storage (like GPU tensors).
#[derive(Clone, Debug)]
pub struct CpuTensor {
    data: Rc<RefCell<Vec<f64>>>,
    shape: Vec<usize>,
}

impl CpuTensor {
    pub fn new(shape: &[usize], data: Vec<f64>) -> CpuTensor {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "data does not match shape {shape:?}"
        );
        CpuTensor {
            data: Rc::new(RefCell::new(data)),
            shape: shape.to_vec(),
        }
    }
    pub fn to_vec(&self) -> Vec<f64> {
        self.data.borrow().clone()
    }
    fn v(&self) -> std::cell::Ref<'_, Vec<f64>> {
        self.data.borrow()
    }
    /// (N, C, S) of an NCHW or [N, C] tensor.
    fn ncs(&self) -> (usize, usize, usize) {
        let s = &self.shape;
        (s[0], s[1], s[2..].iter().product())
    }
    fn accumulate(&self, delta: &[f64]) {
        let mut d = self.data.borrow_mut();
        assert_eq!(d.len(), delta.len());
        for (a, b) in d.iter_mut().zip(delta) {
            *a += b;
        }
    }
}

/// The reference group norm saves its per-group mean and 1/std.
#[derive(Clone, Debug)]
pub struct CpuNormStats {
    mean: Vec<f64>,
    rstd: Vec<f64>,
}

fn dims(x: &CpuTensor, w: &CpuTensor, g: ConvGeometry) -> conv::ConvDims {
    let (xs, ws) = (&x.shape, &w.shape);
    conv::ConvDims {
        n: xs[0],
        cin: xs[1],
        h: xs[2],
        w: xs[3],
        cout: ws[0],
        kh: ws[2],
        kw: ws[3],
        stride: g.stride,
        pad: g.pad,
    }
}

impl TensorOps for CpuTensor {
    type NormStats = CpuNormStats;
    type ConvInput = CpuTensor;

    fn shape(&self) -> Vec<usize> {
        self.shape.clone()
    }
    fn reshape(&self, shape: &[usize]) -> Self {
        assert_eq!(shape.iter().product::<usize>(), self.v().len());
        CpuTensor {
            data: self.data.clone(),
            shape: shape.to_vec(),
        }
    }
    fn zeros_like_shape(&self, shape: &[usize]) -> Self {
        CpuTensor::new(shape, vec![0.0; shape.iter().product()])
    }

    fn conv2d(&self, w: &Self, bias: Option<&Self>, g: ConvGeometry) -> (Self, Self) {
        let d = dims(self, w, g);
        let (ho, wo) = d.out_hw();
        let b = bias.map(|b| b.to_vec());
        let y = CpuTensor::new(
            &[d.n, d.cout, ho, wo],
            conv::conv2d(&d, &self.v(), &w.v(), b.as_deref()),
        );
        (y, self.clone())
    }
    fn conv_input_hw(input: &Self) -> (usize, usize) {
        (input.dim(2), input.dim(3))
    }
    fn conv2d_backward_input(
        dy: &Self,
        w: &Self,
        g: ConvGeometry,
        (h, wd): (usize, usize),
    ) -> Self {
        let ws = &w.shape;
        let d = conv::ConvDims {
            n: dy.shape[0],
            cin: ws[1],
            h,
            w: wd,
            cout: ws[0],
            kh: ws[2],
            kw: ws[3],
            stride: g.stride,
            pad: g.pad,
        };
        CpuTensor::new(
            &[d.n, d.cin, h, wd],
            conv::conv2d_backward_input(&d, &dy.v(), &w.v()),
        )
    }
    fn conv2d_backward_weight(dy: &Self, x: &Self, dw: &Self, g: ConvGeometry) {
        let d = dims(x, dw, g);
        conv::conv2d_backward_weight(&d, &dy.v(), &x.v(), &mut dw.data.borrow_mut());
    }
    fn conv2d_backward_bias(dy: &Self, db: &Self) {
        let (n, c, s) = dy.ncs();
        conv::conv2d_backward_bias(n, c, s, &dy.v(), &mut db.data.borrow_mut());
    }

    fn linear(&self, w: &Self, bias: Option<&Self>) -> Self {
        let (fan_out, fan_in) = (w.shape[0], w.shape[1]);
        let rows = self.v().len() / fan_in;
        let b = bias.map(|b| b.to_vec());
        let mut shape = self.shape.clone();
        *shape.last_mut().unwrap() = fan_out;
        CpuTensor::new(
            &shape,
            matmul::linear(&self.v(), &w.v(), b.as_deref(), rows, fan_in, fan_out),
        )
    }
    fn linear_backward(dy: &Self, x: &Self, w: &Self, dw: &Self, db: Option<&Self>) -> Self {
        let (fan_out, fan_in) = (w.shape[0], w.shape[1]);
        let rows = x.v().len() / fan_in;
        let (dx, gw, gb) = matmul::linear_backward(&dy.v(), &x.v(), &w.v(), rows, fan_in, fan_out);
        dw.accumulate(&gw);
        if let Some(db) = db {
            db.accumulate(&gb);
        }
        CpuTensor::new(&x.shape, dx)
    }

    fn group_norm(
        &self,
        gamma: &Self,
        beta: &Self,
        groups: usize,
        eps: f32,
        silu: bool,
    ) -> (Self, CpuNormStats) {
        let (n, c, s) = self.ncs();
        let (y, mean, rstd) = norm::group_norm(
            &self.v(),
            &gamma.v(),
            &beta.v(),
            n,
            c,
            s,
            groups,
            eps as f64,
            silu,
        );
        (CpuTensor::new(&self.shape, y), CpuNormStats { mean, rstd })
    }
    fn group_norm_backward(
        dy: &Self,
        x: &Self,
        gamma: &Self,
        beta: &Self,
        st: &CpuNormStats,
        groups: usize,
        silu: bool,
        dgamma: &Self,
        dbeta: &Self,
    ) -> Self {
        let (n, c, s) = x.ncs();
        let (dx, dg, db) = norm::group_norm_backward(
            &dy.v(),
            &x.v(),
            &gamma.v(),
            &beta.v(),
            &st.mean,
            &st.rstd,
            n,
            c,
            s,
            groups,
            silu,
        );
        dgamma.accumulate(&dg);
        dbeta.accumulate(&db);
        CpuTensor::new(&x.shape, dx)
    }

    fn attention(
        q: &Self,
        k: &Self,
        v: &Self,
        heads: usize,
        _training: bool,
    ) -> (Self, Self, Option<Self>) {
        let (b, l, c) = (q.shape[0], q.shape[1], q.shape[2]);
        let (o, lse) = attention::attention(&q.v(), &k.v(), &v.v(), b, l, c, heads);
        (
            CpuTensor::new(&q.shape, o),
            CpuTensor::new(&[b, heads, l], lse),
            None,
        )
    }
    fn attention_backward(
        q: &Self,
        k: &Self,
        v: &Self,
        _o: &Self,
        _lse: &Self,
        _probs: Option<&Self>,
        dout: &Self,
        heads: usize,
    ) -> (Self, Self, Self) {
        let (b, l, c) = (q.shape[0], q.shape[1], q.shape[2]);
        let (dq, dk, dv) =
            attention::attention_backward(&q.v(), &k.v(), &v.v(), &dout.v(), b, l, c, heads);
        (
            CpuTensor::new(&q.shape, dq),
            CpuTensor::new(&k.shape, dk),
            CpuTensor::new(&v.shape, dv),
        )
    }

    fn silu(&self) -> Self {
        CpuTensor::new(&self.shape, elementwise::silu(&self.v()))
    }
    fn silu_backward(x: &Self, dy: &Self) -> Self {
        CpuTensor::new(&x.shape, elementwise::silu_backward(&x.v(), &dy.v()))
    }
    fn add_assign(&self, other: &Self) {
        let o = other.to_vec();
        self.accumulate(&o);
    }
    fn add_channel_assign(&self, v: &Self) {
        let (n, c, s) = self.ncs();
        let y = elementwise::add_channel(&self.v(), n, c, s, &v.v(), v.shape.len() == 2);
        *self.data.borrow_mut() = y;
    }
    fn sum_spatial(&self) -> Self {
        let (n, c, s) = self.ncs();
        CpuTensor::new(&[n, c], reduce::sum_spatial(&self.v(), n, c, s))
    }
    fn concat_channels(a: &Self, b: &Self) -> Self {
        let (n, ca, s) = a.ncs();
        let cb = b.shape[1];
        let mut shape = a.shape.clone();
        shape[1] = ca + cb;
        CpuTensor::new(
            &shape,
            elementwise::concat_channels(&a.v(), &b.v(), n, ca, cb, s),
        )
    }
    fn split_channels(&self, ca: usize) -> (Self, Self) {
        let (n, c, s) = self.ncs();
        let (a, b) = elementwise::split_channels(&self.v(), n, ca, c - ca, s);
        let (mut sa, mut sb) = (self.shape.clone(), self.shape.clone());
        sa[1] = ca;
        sb[1] = c - ca;
        (CpuTensor::new(&sa, a), CpuTensor::new(&sb, b))
    }
    fn upsample_nearest2x(&self) -> Self {
        let s = &self.shape;
        let y = elementwise::upsample_nearest2x(&self.v(), s[0] * s[1], s[2], s[3]);
        CpuTensor::new(&[s[0], s[1], 2 * s[2], 2 * s[3]], y)
    }
    fn upsample_nearest2x_backward(dy: &Self) -> Self {
        let s = &dy.shape;
        let dx = elementwise::upsample_nearest2x_backward(&dy.v(), s[0] * s[1], s[2] / 2, s[3] / 2);
        CpuTensor::new(&[s[0], s[1], s[2] / 2, s[3] / 2], dx)
    }
    fn transpose(&self) -> Self {
        let s = &self.shape;
        let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
        let b = self.v().len() / (r * c);
        let mut shape = s.clone();
        let k = shape.len();
        shape.swap(k - 2, k - 1);
        CpuTensor::new(&shape, layout::transpose(&self.v(), b, r, c))
    }
    fn timestep_embedding(&self, dim: usize, flip_sin_to_cos: bool, freq_shift: f32) -> Self {
        let t: Vec<u32> = self.v().iter().map(|&v| v as u32).collect();
        let b = t.len();
        // The argument t * freq rounded as float32 PyTorch (and our kernel) forms it: the
        // network is defined by that rounding (sin of ~1000 rad amplifies it).
        let arg = elementwise::EmbeddingArgument::Float32;
        CpuTensor::new(
            &[b, dim],
            elementwise::timestep_embedding(&t, dim, flip_sin_to_cos, freq_shift as f64, arg),
        )
    }
    fn dropout(&self, p: f32, seed: u64, stream: u64, first: usize) -> Self {
        CpuTensor::new(
            &self.shape,
            rng::dropout_at(&self.v(), p, seed, stream, first),
        )
    }
    fn dropout_backward(dy: &Self, p: f32, seed: u64, stream: u64, first: usize) -> Self {
        CpuTensor::new(&dy.shape, rng::dropout_at(&dy.v(), p, seed, stream, first))
    }
}

/// Parameters and gradient accumulators of a model on the CPU, in a [`Layout`].
pub struct CpuParams {
    pub layout: Layout,
    values: Vec<CpuTensor>,
    grads: Vec<CpuTensor>,
}

impl CpuParams {
    /// From flat values in the layout (as the GPU store holds them).
    pub fn new(layout: &Layout, flat: &[f64]) -> CpuParams {
        let mut values = Vec::new();
        let mut grads = Vec::new();
        for (i, s) in layout.specs.iter().enumerate() {
            let n = layout.numel(i);
            values.push(CpuTensor::new(
                &s.shape,
                flat[layout.offsets[i]..layout.offsets[i] + n].to_vec(),
            ));
            grads.push(CpuTensor::new(&s.shape, vec![0.0; n]));
        }
        CpuParams {
            layout: layout.clone(),
            values,
            grads,
        }
    }
    /// Gradients in the flat layout (padding zero).
    pub fn flat_grads(&self) -> Vec<f64> {
        let mut flat = vec![0.0; self.layout.total];
        for (i, g) in self.grads.iter().enumerate() {
            let o = self.layout.offsets[i];
            flat[o..o + self.layout.numel(i)].copy_from_slice(&g.v());
        }
        flat
    }
    pub fn grad_of(&self, i: usize) -> Vec<f64> {
        self.grads[i].to_vec()
    }
    /// Adds `delta` to element `j` of parameter `i` (for finite differences).
    pub fn nudge(&self, i: usize, j: usize, delta: f64) {
        self.values[i].data.borrow_mut()[j] += delta;
    }
}

impl Params<CpuTensor> for CpuParams {
    fn value(&self, id: ParamId) -> &CpuTensor {
        &self.values[id.0]
    }
    fn grad(&self, id: ParamId) -> &CpuTensor {
        &self.grads[id.0]
    }
}
