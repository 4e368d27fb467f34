//! GPU ops: one module per kernel family (one WGSL file each under `shaders/`). Each module
//! builds bind groups, picks the kernel variant for the shape and adapter, and dispatches;
//! forward and backward of an op live side by side.

pub mod attention;
pub mod bound;
pub mod conv;
pub mod diffusion;
pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod peak;
pub mod reduce;
pub mod rng;

/// Launch geometry of the flat kernels (elementwise and optimiser): `workgroup` invocations
/// per workgroup, `per_invocation` items each, an item being one f32 or (with `vec4`) one
/// vec4<f32>; the WGSL overrides `WG` and `EPI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlatVariant {
    /// Invocations per workgroup (a power of two, at most 256).
    pub workgroup: u32,
    /// Items per invocation.
    pub per_invocation: u32,
    /// Use the `vec4` entry points where the shape allows (otherwise the scalar ones).
    pub vec4: bool,
}

impl FlatVariant {
    /// A real GPU: 256-wide workgroups, one vec4 per invocation (16-byte coalesced accesses,
    /// many workgroups in flight). Not measured on a GPU yet.
    pub const GPU: FlatVariant = FlatVariant {
        workgroup: 256,
        per_invocation: 1,
        vec4: true,
    };
    /// A CPU adapter (lavapipe): 128-wide workgroups, one vec4 per invocation (see
    /// [`elementwise::variant`]).
    pub const CPU: FlatVariant = FlatVariant {
        workgroup: 128,
        per_invocation: 1,
        vec4: true,
    };
    /// Scalar loads only (also what every variant falls back to when a shape does not allow
    /// vec4), several items per invocation.
    pub const SCALAR: FlatVariant = FlatVariant {
        workgroup: 64,
        per_invocation: 4,
        vec4: false,
    };
    /// vec4 items, several per invocation, small workgroups: exercises the item loop.
    pub const SMALL: FlatVariant = FlatVariant {
        workgroup: 32,
        per_invocation: 3,
        vec4: true,
    };
    /// Every variant the checks run.
    pub const ALL: [FlatVariant; 4] = [
        FlatVariant::GPU,
        FlatVariant::CPU,
        FlatVariant::SCALAR,
        FlatVariant::SMALL,
    ];

    pub(crate) fn constants(self) -> [(&'static str, f64); 2] {
        [
            ("WG", self.workgroup as f64),
            ("EPI", self.per_invocation as f64),
        ]
    }
    pub(crate) fn items_per_workgroup(self) -> usize {
        (self.workgroup * self.per_invocation) as usize
    }
}

/// [N, C, S] view of an NCHW shape (3-D or 4-D; 2-D [N, C] has S = 1).
pub(crate) fn ncs(shape: &[usize], op: &str) -> (usize, usize, usize) {
    match shape {
        [n, c] => (*n, *c, 1),
        [n, c, s] => (*n, *c, *s),
        [n, c, h, w] => (*n, *c, h * w),
        _ => panic!("{op}: expected a [N, C, S] or [N, C, H, W] tensor, got {shape:?}"),
    }
}
