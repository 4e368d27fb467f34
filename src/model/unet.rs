//! The U-Net eps_theta(x_t, t) of DDPM in diffusers' `UNet2DModel` layout, with its forward
//! pass (recording a [`Tape`] of what backward needs) and its hand-written backward pass.
//!
//! ```text
//! h = conv_in(x); skips = [h]
//! down level i: (resnet [+ attention]) x L, each output pushed to skips; then a downsample
//!               (pushed too) except at the last level
//! mid:          resnet, attention, resnet
//! up level i:   (concat(h, skips.pop()) -> resnet [+ attention]) x (L+1); then an upsample
//!               except at the last level
//! eps = conv_out(silu(GN(h)))
//! ```

use super::config::{DownBlock, UNetConfig, UpBlock};
use crate::gpu::profile::scope;
use crate::nn::attention::{AttentionBlock, AttentionSaved};
use crate::nn::conv::Conv2d;
use crate::nn::norm::{GroupNorm, NormSaved};
use crate::nn::params::Registry;
use crate::nn::resample::{Downsample, Upsample};
use crate::nn::resnet::{ResnetBlock, ResnetSaved};
use crate::nn::time::{TimeEmbedding, TimeSaved};
use crate::nn::{Mode, Params, TensorOps};
use crate::ops::conv::ConvGeometry;

struct Level<S> {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<AttentionBlock>,
    resample: Option<S>,
}

pub struct UNet {
    pub config: UNetConfig,
    pub registry: Registry,
    conv_in: Conv2d,
    time: TimeEmbedding,
    down: Vec<Level<Downsample>>,
    mid_resnets: [ResnetBlock; 2],
    mid_attention: Option<AttentionBlock>,
    up: Vec<Level<Upsample>>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

/// One residual block's record, optionally followed by its attention block's.
struct BlockTape<T: TensorOps> {
    resnet: ResnetSaved<T>,
    attention: Option<AttentionSaved<T>>,
    /// Up path only: channels of `h` before the skip was concatenated.
    h_channels: usize,
}

/// One level's record: its blocks', and what its resampling conv kept of its input.
type LevelTape<T> = (Vec<BlockTape<T>>, Option<<T as TensorOps>::ConvInput>);

/// Everything the backward pass needs from one forward pass.
pub struct Tape<T: TensorOps> {
    mode: Mode,
    time: TimeSaved<T>,
    temb_act: T,
    conv_in_in: T::ConvInput,
    down: Vec<LevelTape<T>>,
    mid: Vec<BlockTape<T>>,
    up: Vec<LevelTape<T>>,
    norm_out: NormSaved<T>,
    conv_out_in: T::ConvInput,
}

/// The gradients of a backward pass that are not parameters (those go to the store).
pub struct InputGrad<T> {
    pub dx: T,
}

impl UNet {
    pub fn new(config: &UNetConfig) -> UNet {
        let cfg = config.clone();
        let reg = &mut Registry::default();
        let (g, eps, temb) = (cfg.norm_num_groups, cfg.norm_eps, cfg.time_embed_dim());
        let ch = &cfg.block_out_channels;
        let levels = ch.len();
        let layers = cfg.layers_per_block;
        let mut resnet_index = 0;
        let mut resnet = |reg: &mut Registry, name: String, cin: usize, cout: usize| {
            resnet_index += 1;
            ResnetBlock::new(
                reg,
                &name,
                cin,
                cout,
                temb,
                g,
                eps,
                cfg.dropout,
                resnet_index - 1,
            )
        };
        let conv_in = Conv2d::new(
            reg,
            "conv_in",
            cfg.in_channels,
            ch[0],
            3,
            ConvGeometry::same3x3(),
            false,
        );
        let time = TimeEmbedding::new(reg, ch[0], temb, cfg.flip_sin_to_cos, cfg.freq_shift);

        let mut down = Vec::new();
        for i in 0..levels {
            let name = format!("down_blocks.{i}");
            let attn = cfg.down_block_types[i] == DownBlock::AttnDownBlock2D;
            let mut level = Level {
                resnets: vec![],
                attentions: vec![],
                resample: None,
            };
            for j in 0..layers {
                let cin = if j == 0 {
                    ch[i.saturating_sub(1)]
                } else {
                    ch[i]
                };
                level
                    .resnets
                    .push(resnet(reg, format!("{name}.resnets.{j}"), cin, ch[i]));
                if attn {
                    let a = AttentionBlock::new(
                        reg,
                        &format!("{name}.attentions.{j}"),
                        ch[i],
                        cfg.heads(ch[i]),
                        g,
                        eps,
                    );
                    level.attentions.push(a);
                }
            }
            if i + 1 < levels {
                let pad = cfg.downsample_padding as usize;
                level.resample = Some(Downsample::new(
                    reg,
                    &format!("{name}.downsamplers.0"),
                    ch[i],
                    pad,
                ));
            }
            down.push(level);
        }

        let c = ch[levels - 1];
        let mid0 = resnet(reg, "mid_block.resnets.0".into(), c, c);
        let mid_attention = cfg
            .add_attention
            .then(|| AttentionBlock::new(reg, "mid_block.attentions.0", c, cfg.heads(c), g, eps));
        let mid1 = resnet(reg, "mid_block.resnets.1".into(), c, c);

        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let mut up = Vec::new();
        for i in 0..levels {
            let name = format!("up_blocks.{i}");
            let attn = cfg.up_block_types[i] == UpBlock::AttnUpBlock2D;
            let mut level = Level {
                resnets: vec![],
                attentions: vec![],
                resample: None,
            };
            for j in 0..=layers {
                let prev = if j == 0 {
                    rev[i.saturating_sub(1)]
                } else {
                    rev[i]
                };
                let skip = if j < layers {
                    rev[i]
                } else {
                    rev[(i + 1).min(levels - 1)]
                };
                level.resnets.push(resnet(
                    reg,
                    format!("{name}.resnets.{j}"),
                    prev + skip,
                    rev[i],
                ));
                if attn {
                    let a = AttentionBlock::new(
                        reg,
                        &format!("{name}.attentions.{j}"),
                        rev[i],
                        cfg.heads(rev[i]),
                        g,
                        eps,
                    );
                    level.attentions.push(a);
                }
            }
            if i + 1 < levels {
                level.resample = Some(Upsample::new(reg, &format!("{name}.upsamplers.0"), rev[i]));
            }
            up.push(level);
        }
        let norm_out = GroupNorm::new(reg, "conv_norm_out", ch[0], g, eps, true);
        let conv_out = Conv2d::new(
            reg,
            "conv_out",
            ch[0],
            cfg.out_channels,
            3,
            ConvGeometry::same3x3(),
            true,
        );
        UNet {
            config: cfg,
            registry: reg.clone(),
            conv_in,
            time,
            down,
            mid_resnets: [mid0, mid1],
            mid_attention,
            up,
            norm_out,
            conv_out,
        }
    }

    /// Elements per image of the largest activation (the widest channel concat of the up path,
    /// as a convolution's zero-padded copy), which must fit one storage binding of the adapter.
    pub fn largest_activation_per_image(&self) -> usize {
        let cfg = &self.config;
        let levels = cfg.block_out_channels.len();
        let mut largest = cfg.in_channels.max(cfg.out_channels) * cfg.sample_size * cfg.sample_size;
        for (i, level) in self.up.iter().enumerate() {
            // Convolutions may copy their input into zero-padded planes with rows rounded up
            // to a multiple of 4 (and a few spare rows).
            let side = cfg.sample_size >> (levels - 1 - i);
            let padded = (side + 2) * (side + 2).next_multiple_of(4) + 4 * side;
            for r in &level.resnets {
                let widest = r.in_channels.max(r.out_channels);
                largest = largest.max(widest * padded);
            }
        }
        largest
    }

    /// Number of parameters (35,746,307 for the cifar10 preset).
    pub fn parameter_count(&self) -> usize {
        self.registry.count()
    }

    /// Predicts the noise eps for images `x` [B, C, H, W] at u32 timesteps `t` [B].
    pub fn forward<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        x: &T,
        t: &T,
        mode: Mode,
    ) -> (T, Tape<T>) {
        let (temb_act, time) = {
            let _s = scope("time");
            self.time.forward(ps, t)
        };
        // `at`: the profile scope of the block, e.g. `down1`.
        let block = |at: &str, h: &T, r: &ResnetBlock, a: Option<&AttentionBlock>, h_channels| {
            let (h, resnet) = {
                let _s = scope(format!("{at}.resnet"));
                r.forward(ps, h, &temb_act, mode)
            };
            match a {
                Some(a) => {
                    let _s = scope(format!("{at}.attn"));
                    let (h, att) = a.forward(ps, &h, mode.training);
                    (
                        h,
                        BlockTape {
                            resnet,
                            attention: Some(att),
                            h_channels,
                        },
                    )
                }
                None => (
                    h,
                    BlockTape {
                        resnet,
                        attention: None,
                        h_channels,
                    },
                ),
            }
        };

        // Inference keeps no per-block records, so its memory is just the working set.
        let keep = mode.training;
        let (mut h, conv_in_in) = {
            let _s = scope("conv_in");
            self.conv_in.forward(ps, x)
        };
        let mut skips = vec![h.clone()];
        let mut down_tape = Vec::new();
        for (i, level) in self.down.iter().enumerate() {
            let at = format!("down{i}");
            let mut blocks = Vec::new();
            for (j, r) in level.resnets.iter().enumerate() {
                let (out, bt) = block(&at, &h, r, level.attentions.get(j), 0);
                h = out;
                skips.push(h.clone());
                if keep {
                    blocks.push(bt);
                }
            }
            let mut input = None;
            if let Some(d) = &level.resample {
                let _s = scope(format!("{at}.downsample"));
                let (out, kept) = d.forward(ps, &h);
                input = keep.then_some(kept);
                h = out;
                skips.push(h.clone());
            }
            down_tape.push((blocks, input));
        }

        let (out, m0) = block("mid", &h, &self.mid_resnets[0], None, 0);
        let mut mid = vec![m0];
        h = out;
        if let Some(a) = &self.mid_attention {
            let _s = scope("mid.attn");
            let (out, att) = a.forward(ps, &h, mode.training);
            mid[0].attention = Some(att);
            h = out;
        }
        let (out, m1) = block("mid", &h, &self.mid_resnets[1], None, 0);
        mid.push(m1);
        if !keep {
            mid.clear();
        }
        h = out;

        let mut up_tape = Vec::new();
        for (i, level) in self.up.iter().enumerate() {
            let at = format!("up{i}");
            let mut blocks = Vec::new();
            for (j, r) in level.resnets.iter().enumerate() {
                let skip = skips.pop().expect("skip stack matches the architecture");
                let h_channels = h.dim(1);
                let cat = {
                    let _s = scope(format!("{at}.concat"));
                    T::concat_channels(&h, &skip)
                };
                let (out, bt) = block(&at, &cat, r, level.attentions.get(j), h_channels);
                h = out;
                if keep {
                    blocks.push(bt);
                }
            }
            let mut input = None;
            if let Some(u) = &level.resample {
                let _s = scope(format!("{at}.upsample"));
                let (out, kept) = u.forward(ps, &h);
                input = keep.then_some(kept);
                h = out;
            }
            up_tape.push((blocks, input));
        }

        let _s = scope("out");
        let (eps, norm_out, conv_out_in) = self.norm_out.forward_into_conv(ps, &h, &self.conv_out);
        let tape = Tape {
            mode,
            time,
            temb_act,
            conv_in_in,
            down: down_tape,
            mid,
            up: up_tape,
            norm_out,
            conv_out_in,
        };
        (eps, tape)
    }

    /// Accumulates every parameter gradient into `ps` and returns dL/dx, given dL/d(eps).
    pub fn backward<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        tape: Tape<T>,
        d_eps: &T,
    ) -> InputGrad<T> {
        let dx = self.backward_to(ps, tape, d_eps, true);
        InputGrad {
            dx: dx.expect("the input gradient was asked for"),
        }
    }

    /// Accumulates every parameter gradient into `ps`, given dL/d(eps), without the gradient
    /// of the input (which training does not need: it saves the input conv's input-gradient
    /// pass).
    pub fn backward_params<T: TensorOps>(&self, ps: &impl Params<T>, tape: Tape<T>, d_eps: &T) {
        self.backward_to(ps, tape, d_eps, false);
    }

    /// The backward pass; dL/dx only if `input_grad`.
    fn backward_to<T: TensorOps>(
        &self,
        ps: &impl Params<T>,
        tape: Tape<T>,
        d_eps: &T,
        input_grad: bool,
    ) -> Option<T> {
        assert!(
            tape.mode.training,
            "backward needs a forward pass in training mode"
        );
        let Tape {
            mode: _,
            time,
            temb_act,
            conv_in_in,
            down,
            mid,
            up,
            norm_out,
            conv_out_in,
        } = tape;
        let d_temb_act = temb_act.zeros_like_shape(&temb_act.shape());
        let block_backward =
            |at: &str, bt: BlockTape<T>, r: &ResnetBlock, a: Option<&AttentionBlock>, dh: T| {
                let dh = match (a, bt.attention) {
                    (Some(a), Some(saved)) => {
                        let _s = scope(format!("{at}.attn"));
                        a.backward(ps, saved, &dh)
                    }
                    _ => dh,
                };
                let _s = scope(format!("{at}.resnet"));
                r.backward(ps, bt.resnet, &temb_act, &dh, &d_temb_act)
            };

        let mut dh = {
            let _s = scope("out");
            let dh = self.conv_out.backward(ps, &conv_out_in, d_eps);
            self.norm_out.backward(ps, &norm_out, &dh)
        };

        // Up path, last level first; each resnet's input gradient splits into the gradient of
        // h and that of the skip it consumed. Skips were popped in reverse push order.
        let mut d_skips: Vec<T> = Vec::new();
        for (i, (level, (blocks, input))) in self.up.iter().zip(up).enumerate().rev() {
            let at = format!("up{i}");
            if let (Some(u), Some(input)) = (&level.resample, input) {
                let _s = scope(format!("{at}.upsample"));
                dh = u.backward(ps, &input, &dh);
            }
            for (j, bt) in blocks.into_iter().enumerate().rev() {
                let h_channels = bt.h_channels;
                let (r, a) = (&level.resnets[j], level.attentions.get(j));
                let d_cat = block_backward(&at, bt, r, a, dh);
                let _s = scope(format!("{at}.concat"));
                let (d_h, d_skip) = d_cat.split_channels(h_channels);
                dh = d_h;
                d_skips.push(d_skip);
            }
        }
        // d_skips is now in push order: d_skips[k] is the gradient of skips[k].
        let mut mid = mid.into_iter().rev();
        let m1 = mid.next().unwrap();
        dh = block_backward("mid", m1, &self.mid_resnets[1], None, dh);
        let mut m0 = mid.next().unwrap();
        if let (Some(a), Some(saved)) = (&self.mid_attention, m0.attention.take()) {
            let _s = scope("mid.attn");
            dh = a.backward(ps, saved, &dh);
        }
        dh = block_backward("mid", m0, &self.mid_resnets[0], None, dh);

        // Down path, last level first; the skip stack is consumed from its end.
        for (i, (level, (blocks, input))) in self.down.iter().zip(down).enumerate().rev() {
            let at = format!("down{i}");
            if let (Some(d), Some(input)) = (&level.resample, input) {
                let _s = scope(format!("{at}.downsample"));
                dh.add_assign(&d_skips.pop().unwrap());
                dh = d.backward(ps, &input, &dh);
            }
            for (j, bt) in blocks.into_iter().enumerate().rev() {
                {
                    let _s = scope(format!("{at}.skip_add"));
                    dh.add_assign(&d_skips.pop().unwrap());
                }
                let (r, a) = (&level.resnets[j], level.attentions.get(j));
                dh = block_backward(&at, bt, r, a, dh);
            }
        }
        let _s = scope("conv_in");
        dh.add_assign(&d_skips.pop().unwrap());
        assert!(d_skips.is_empty(), "every skip gradient consumed");
        let dx = if input_grad {
            Some(self.conv_in.backward(ps, &conv_in_in, &dh))
        } else {
            self.conv_in.backward_params(ps, &conv_in_in, &dh);
            None
        };
        let _s = scope("time");
        self.time.backward(ps, time, &d_temb_act);
        dx
    }
}
