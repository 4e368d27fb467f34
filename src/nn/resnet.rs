//! `ResnetBlock2D` (diffusers names), pre-norm with the time embedding added after conv1:
//!
//! ```text
//! h   = conv1(silu(GN1(x))) + time_emb_proj(silu(temb))[:, :, None, None]
//! out = shortcut(x) + conv2(dropout(silu(GN2(h))))        shortcut = 1x1 conv iff Cin != Cout
//! ```

use super::conv::Conv2d;
use super::linear::Linear;
use super::norm::{GroupNorm, NormSaved};
use super::{Mode, ParamStore, Registry};
use crate::ops::conv::ConvGeometry;
use crate::ops::{elementwise, reduce, rng};
use crate::Tensor;

pub struct ResnetBlock {
    pub norm1: GroupNorm,
    pub conv1: Conv2d,
    pub time_emb_proj: Linear,
    pub norm2: GroupNorm,
    pub conv2: Conv2d,
    pub conv_shortcut: Option<Conv2d>,
    pub dropout: f32,
    /// Index among the model's residual blocks: selects its dropout random stream.
    pub index: usize,
}

pub struct ResnetSaved {
    norm1: NormSaved,
    conv1_in: Tensor,
    norm2: NormSaved,
    conv2_in: Tensor,
    mode: Mode,
}

#[allow(clippy::too_many_arguments)]
impl ResnetBlock {
    pub fn new(reg: &mut Registry, name: &str, cin: usize, cout: usize, temb: usize, groups: usize, eps: f64, dropout: f64, index: usize) -> ResnetBlock {
        let same = ConvGeometry::same3x3();
        ResnetBlock {
            norm1: GroupNorm::new(reg, &format!("{name}.norm1"), cin, groups, eps, true),
            conv1: Conv2d::new(reg, &format!("{name}.conv1"), cin, cout, 3, same, false),
            time_emb_proj: Linear::new(reg, &format!("{name}.time_emb_proj"), temb, cout, false),
            norm2: GroupNorm::new(reg, &format!("{name}.norm2"), cout, groups, eps, true),
            conv2: Conv2d::new(reg, &format!("{name}.conv2"), cout, cout, 3, same, true),
            conv_shortcut: (cin != cout).then(|| {
                Conv2d::new(reg, &format!("{name}.conv_shortcut"), cin, cout, 1, ConvGeometry::pointwise(), false)
            }),
            dropout: dropout as f32,
            index,
        }
    }

    /// `temb_act` is silu(temb) [B, Temb], shared by every block.
    pub fn forward(&self, ps: &ParamStore, x: &Tensor, temb_act: &Tensor, mode: Mode) -> (Tensor, ResnetSaved) {
        let (conv1_in, norm1) = self.norm1.forward(ps, x);
        let h = self.conv1.forward(ps, &conv1_in);
        let t = self.time_emb_proj.forward(ps, temb_act);
        elementwise::add_channel_assign(&h, &t);
        let (a, norm2) = self.norm2.forward(ps, &h);
        let conv2_in = if mode.training && self.dropout > 0.0 {
            rng::dropout(&a, self.dropout, mode.seed, mode.dropout_stream(self.index))
        } else {
            a
        };
        let out = self.conv2.forward(ps, &conv2_in);
        match &self.conv_shortcut {
            Some(sc) => elementwise::add_assign(&out, &sc.forward(ps, x)),
            None => elementwise::add_assign(&out, x),
        }
        (out, ResnetSaved { norm1, conv1_in, norm2, conv2_in, mode })
    }

    /// Returns dL/dx and adds this block's contribution to `d_temb_act`.
    pub fn backward(&self, ps: &ParamStore, saved: ResnetSaved, temb_act: &Tensor, dy: &Tensor, d_temb_act: &Tensor) -> Tensor {
        let d_drop = self.conv2.backward(ps, &saved.conv2_in, dy);
        let d_a = if saved.mode.training && self.dropout > 0.0 {
            rng::dropout_backward(&d_drop, self.dropout, saved.mode.seed, saved.mode.dropout_stream(self.index))
        } else {
            d_drop
        };
        let d_h = self.norm2.backward(ps, &saved.norm2, &d_a);
        let d_t = reduce::sum_spatial(&d_h);
        elementwise::add_assign(d_temb_act, &self.time_emb_proj.backward(ps, temb_act, &d_t));
        let d_conv1_in = self.conv1.backward(ps, &saved.conv1_in, &d_h);
        let dx = self.norm1.backward(ps, &saved.norm1, &d_conv1_in);
        match &self.conv_shortcut {
            Some(sc) => elementwise::add_assign(&dx, &sc.backward(ps, &saved.norm1.x, dy)),
            None => elementwise::add_assign(&dx, dy),
        }
        dx
    }
}
