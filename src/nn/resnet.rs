//! `ResnetBlock2D` (diffusers names), pre-norm with the time embedding added after conv1:
//!
//! ```text
//! h   = conv1(silu(GN1(x))) + time_emb_proj(silu(temb))[:, :, None, None]
//! out = shortcut(x) + conv2(dropout(silu(GN2(h))))        shortcut = 1x1 conv iff Cin != Cout
//! ```

use super::conv::Conv2d;
use super::linear::Linear;
use super::norm::{GroupNorm, NormSaved};
use super::tensor_ops::{Params, TensorOps};
use super::{Mode, Registry};
use crate::ops::conv::ConvGeometry;

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
    pub in_channels: usize,
    pub out_channels: usize,
}

pub struct ResnetSaved<T: TensorOps> {
    norm1: NormSaved<T>,
    conv1_in: T::ConvInput,
    norm2: NormSaved<T>,
    conv2_in: T::ConvInput,
    shortcut_in: Option<T::ConvInput>,
    mode: Mode,
}

#[allow(clippy::too_many_arguments)]
impl ResnetBlock {
    pub fn new(
        reg: &mut Registry,
        name: &str,
        cin: usize,
        cout: usize,
        temb: usize,
        groups: usize,
        eps: f64,
        dropout: f64,
        index: usize,
    ) -> ResnetBlock {
        let same = ConvGeometry::same3x3();
        ResnetBlock {
            norm1: GroupNorm::new(reg, &format!("{name}.norm1"), cin, groups, eps, true),
            conv1: Conv2d::new(reg, &format!("{name}.conv1"), cin, cout, 3, same, false),
            time_emb_proj: Linear::new(reg, &format!("{name}.time_emb_proj"), temb, cout, false),
            norm2: GroupNorm::new(reg, &format!("{name}.norm2"), cout, groups, eps, true),
            conv2: Conv2d::new(reg, &format!("{name}.conv2"), cout, cout, 3, same, true),
            conv_shortcut: (cin != cout).then(|| {
                Conv2d::new(
                    reg,
                    &format!("{name}.conv_shortcut"),
                    cin,
                    cout,
                    1,
                    ConvGeometry::pointwise(),
                    false,
                )
            }),
            dropout: dropout as f32,
            index,
            in_channels: cin,
            out_channels: cout,
        }
    }

    /// `temb_act` is silu(temb) [B, Temb], shared by every block.
    pub fn forward<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        x: &T,
        temb_act: &T,
        mode: Mode,
    ) -> (T, ResnetSaved<T>) {
        let (h, norm1, conv1_in) = self.norm1.forward_into_conv(ps, x, &self.conv1);
        let t = self.time_emb_proj.forward(ps, temb_act);
        h.add_channel_assign(&t);
        let (out, norm2, conv2_in) = if mode.training && self.dropout > 0.0 {
            let (a, norm2) = self.norm2.forward(ps, &h);
            let first = mode.first_element(&a);
            let a = a.dropout(
                self.dropout,
                mode.seed,
                mode.dropout_stream(self.index),
                first,
            );
            let (out, conv2_in) = self.conv2.forward(ps, &a);
            (out, norm2, conv2_in)
        } else {
            self.norm2.forward_into_conv(ps, &h, &self.conv2)
        };
        let shortcut_in = match &self.conv_shortcut {
            Some(sc) => {
                let (s, input) = sc.forward(ps, x);
                out.add_assign(&s);
                Some(input)
            }
            None => {
                out.add_assign(x);
                None
            }
        };
        (
            out,
            ResnetSaved {
                norm1,
                conv1_in,
                norm2,
                conv2_in,
                shortcut_in,
                mode,
            },
        )
    }

    /// Returns dL/dx and adds this block's contribution to `d_temb_act`.
    pub fn backward<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        saved: ResnetSaved<T>,
        temb_act: &T,
        dy: &T,
        d_temb_act: &T,
    ) -> T {
        let d_drop = self.conv2.backward(ps, &saved.conv2_in, dy);
        let d_a = if saved.mode.training && self.dropout > 0.0 {
            T::dropout_backward(
                &d_drop,
                self.dropout,
                saved.mode.seed,
                saved.mode.dropout_stream(self.index),
                saved.mode.first_element(&d_drop),
            )
        } else {
            d_drop
        };
        let d_h = self.norm2.backward(ps, &saved.norm2, &d_a);
        let d_t = d_h.sum_spatial();
        d_temb_act.add_assign(&self.time_emb_proj.backward(ps, temb_act, &d_t));
        // conv1's bias gradient, the sum of d_h over the batch and the pixels, is the sum over
        // the batch of d_t: a pass over [N, C] instead of one over d_h.
        let ch = [d_t.dim(0), d_t.dim(1), 1, 1];
        T::conv2d_backward_bias(&d_t.reshape(&ch), ps.grad(self.conv1.bias));
        let d_conv1_in = self.conv1.backward_except_bias(ps, &saved.conv1_in, &d_h);
        let dx = self.norm1.backward(ps, &saved.norm1, &d_conv1_in);
        match (&self.conv_shortcut, &saved.shortcut_in) {
            (Some(sc), Some(input)) => dx.add_assign(&sc.backward(ps, input, dy)),
            _ => dx.add_assign(dy),
        }
        dx
    }
}
