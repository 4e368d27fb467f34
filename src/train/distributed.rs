//! Data-parallel training over MPI: the group of ranks that train one model together, and the
//! few collectives the training job needs (gradient all-reduce, start-up agreement, barriers).
//!
//! Every rank holds the whole model and takes its slice of the global batch; after each
//! backward pass the flat gradient buffer is averaged over the ranks (staged through host
//! memory: wgpu cannot hand a buffer to MPI), so every rank applies the same update. Without the
//! `mpi` cargo feature only the single-process group exists, and a launch by mpirun or srun is
//! an error that says how to build the feature.

use std::time::Instant;

use anyhow::Result;

/// The ranks that train one model together; `single()` is the ordinary one-process run.
pub struct Group {
    rank: usize,
    size: usize,
    local_rank: usize,
    /// Host-side time spent in gradient all-reduces, for the report at the end of a run.
    reduce_seconds: std::cell::Cell<f64>,
    reduces: std::cell::Cell<u64>,
    #[cfg(feature = "mpi")]
    mpi: Option<mpi_group::Mpi>,
}

/// How many processes the launcher that started this one says the job has, if it is a launcher
/// of MPI jobs (Open MPI's mpirun, MPICH's hydra, Slurm's srun with PMI or PMIx).
pub fn launched_size() -> Option<usize> {
    let var = |name: &str| std::env::var(name).ok()?.parse::<usize>().ok();
    var("OMPI_COMM_WORLD_SIZE")
        .or_else(|| var("PMI_SIZE"))
        .or_else(|| var("PMIX_SIZE"))
        // srun --mpi=pmix names the rank but not the size; the job step knows it.
        .or_else(|| var("PMIX_RANK").and(var("SLURM_STEP_NUM_TASKS")))
}

/// This process's rank according to the launcher (0 when not launched by one).
pub fn launched_rank() -> usize {
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(0)
}

impl Group {
    pub fn single() -> Group {
        Group {
            rank: 0,
            size: 1,
            local_rank: 0,
            reduce_seconds: Default::default(),
            reduces: Default::default(),
            #[cfg(feature = "mpi")]
            mpi: None,
        }
    }

    /// The group this process belongs to: MPI's world when a launcher started several
    /// processes (and the feature is built in), else the single process.
    pub fn join() -> Result<Group> {
        let launched = launched_size().unwrap_or(1);
        #[cfg(feature = "mpi")]
        if launched > 1 {
            return mpi_group::join();
        }
        #[cfg(not(feature = "mpi"))]
        if launched > 1 {
            // Every rank would say it; rank 0 does.
            if launched_rank() != 0 {
                std::process::exit(1);
            }
            crate::fail!(
                Config,
                "this ddpm was started by an MPI launcher with {launched} processes but was built \
                 without MPI: build it with `cargo build --release --features mpi` (needs Open \
                 MPI and libclang: apt-get install openmpi-bin libopenmpi-dev libclang-dev)"
            );
        }
        Ok(Group::single())
    }

    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn size(&self) -> usize {
        self.size
    }
    /// The rank among the ranks on this machine: which of its adapters this rank opens.
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }
    /// Rank 0 alone prints, writes metrics, pictures and checkpoints.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// This rank's samples of a global batch of `batch`: (first sample, count).
    pub fn shard(&self, batch: usize) -> Result<(usize, usize)> {
        if !batch.is_multiple_of(self.size) {
            crate::fail!(
                Config,
                "--batch-size {batch} is the global batch and must be divisible by the {} ranks \
                 (each takes an equal slice): use a multiple of {}",
                self.size,
                self.size
            );
        }
        let local = batch / self.size;
        Ok((self.rank * local, local))
    }

    /// Replaces `data` by its mean over the ranks (the gradient all-reduce).
    pub fn all_reduce_mean(&self, data: &mut [f32]) {
        if self.size == 1 {
            return;
        }
        let start = Instant::now();
        self.all_reduce_sum(data);
        let scale = 1.0 / self.size as f32;
        data.iter_mut().for_each(|x| *x *= scale);
        self.reduce_seconds
            .set(self.reduce_seconds.get() + start.elapsed().as_secs_f64());
        self.reduces.set(self.reduces.get() + 1);
    }

    /// Mean host time of one gradient all-reduce so far (seconds), and how many there were.
    pub fn reduce_time(&self) -> (f64, u64) {
        let n = self.reduces.get();
        (self.reduce_seconds.get() / n.max(1) as f64, n)
    }

    fn all_reduce_sum(&self, _data: &mut [f32]) {
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            m.all_reduce_sum(_data);
        }
    }

    /// Replaces `data` on every rank by rank 0's.
    pub fn broadcast(&self, _data: &mut [f32]) {
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            m.broadcast(_data);
        }
    }

    /// Every rank's `value`, by rank.
    pub fn all_gather(&self, value: u64) -> Vec<u64> {
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            return m.all_gather(value);
        }
        vec![value]
    }

    /// Waits for every rank (after rank 0 wrote a checkpoint, so none runs ahead of it).
    pub fn barrier(&self) {
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            m.barrier();
        }
    }

    /// Ends a run that failed on this rank: in a group, the error names the rank and every
    /// rank is stopped (MPI_Abort), since the others would wait forever in the next
    /// collective. Returns the error unchanged in a single process.
    pub fn fail(&self, error: anyhow::Error) -> anyhow::Error {
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            m.abort(&error);
        }
        error
    }

    /// Ends an error that every rank meets alike (a bad option): rank 0 returns it to be printed
    /// once; the others leave MPI cleanly and exit without repeating it.
    pub fn fail_alike(self, error: anyhow::Error) -> anyhow::Error {
        if !self.is_root() {
            // Every rank meets this error, so none waits for this one: finalise MPI, then exit.
            #[cfg(feature = "mpi")]
            drop(self.mpi);
            std::process::exit(1);
        }
        error
    }
}

/// Checks that every rank holds the same `what` (a digest); the error names the first rank
/// that differs from rank 0.
pub fn check_same(group: &Group, digest: u64, what: &str) -> Result<()> {
    let all = group.all_gather(digest);
    if let Some(r) = all.iter().position(|d| *d != all[0]) {
        crate::fail!(
            Config,
            "rank {r} of {} holds other {what} than rank 0: every rank must start the same run \
             (same command line, same checkpoint file)",
            group.size()
        );
    }
    Ok(())
}

/// FNV-1a over 64-bit words: a cheap digest to compare state across ranks (not for security).
pub fn digest(words: impl IntoIterator<Item = u64>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The digest of float data, bit for bit.
pub fn digest_f32(data: &[f32]) -> u64 {
    digest(data.iter().map(|x| x.to_bits() as u64))
}

#[cfg(feature = "mpi")]
mod mpi_group {
    use super::Group;
    use anyhow::Result;
    use mpi::collective::SystemOperation;
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::traits::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// MPI's state: the universe (dropping it finalises MPI) and the world communicator.
    pub struct Mpi {
        _universe: mpi::environment::Universe,
        world: SimpleCommunicator,
        /// Receive buffer of the all-reduce, kept between steps (the gradient is large).
        scratch: std::cell::RefCell<Vec<f32>>,
        watchdog: Watchdog,
    }

    /// Ends this rank (and so, through the launcher, the job) when it has waited in one
    /// collective longer than `DDPM_COLLECTIVE_TIMEOUT` seconds (default 1800; 0: never): a rank
    /// that hangs without failing (a stuck driver, a stopped process) would otherwise keep the
    /// others in the all-reduce forever. The limit is generous because waiting is normal while
    /// rank 0 writes checkpoints and preview samples, or while the first step compiles kernels.
    struct Watchdog {
        /// Milliseconds since `epoch` when the current collective began; 0: not in one.
        since: Arc<AtomicU64>,
        epoch: Instant,
    }

    const DEFAULT_TIMEOUT_S: u64 = 1800;

    impl Watchdog {
        fn start(rank: usize, size: usize) -> Result<Watchdog> {
            let since = Arc::new(AtomicU64::new(0));
            let epoch = Instant::now();
            let limit = match std::env::var("DDPM_COLLECTIVE_TIMEOUT") {
                Err(_) => DEFAULT_TIMEOUT_S,
                Ok(v) => match v.trim().parse::<u64>() {
                    Ok(s) => s,
                    Err(_) => crate::fail!(
                        Config,
                        "DDPM_COLLECTIVE_TIMEOUT must be whole seconds (0: no limit), not '{v}'"
                    ),
                },
            };
            if limit > 0 {
                let since = since.clone();
                std::thread::spawn(move || loop {
                    std::thread::sleep(Duration::from_millis(500));
                    let began = since.load(Ordering::Relaxed);
                    let waited = (epoch.elapsed().as_millis() as u64).saturating_sub(began);
                    if began != 0 && waited > limit * 1000 {
                        eprintln!(
                            "error: rank {rank} of {size}: waited {} s in a collective for the \
                             other ranks (one is stuck or far slower; limit \
                             DDPM_COLLECTIVE_TIMEOUT={limit} s); stopping every rank",
                            waited / 1000
                        );
                        // Leaving without MPI_Finalize makes the launcher end the whole job.
                        std::process::exit(1);
                    }
                });
            }
            Ok(Watchdog { since, epoch })
        }

        /// Runs the collective `f` under the watchdog.
        fn watch<T>(&self, f: impl FnOnce() -> T) -> T {
            let now = self.epoch.elapsed().as_millis() as u64;
            self.since.store(now.max(1), Ordering::Relaxed);
            let result = f();
            self.since.store(0, Ordering::Relaxed);
            result
        }
    }

    pub fn join() -> Result<Group> {
        let Some(universe) = mpi::initialize() else {
            crate::fail!(Config, "MPI was already initialised in this process");
        };
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        // The ranks that share this machine's memory, numbered from 0: one adapter each.
        let local_rank = world.split_shared(rank as i32).rank() as usize;
        install_panic_abort(rank);
        let watchdog = Watchdog::start(rank, size)?;
        Ok(Group {
            rank,
            size,
            local_rank,
            reduce_seconds: Default::default(),
            reduces: Default::default(),
            mpi: Some(Mpi {
                _universe: universe,
                world,
                scratch: Default::default(),
                watchdog,
            }),
        })
    }

    /// A panic on one rank aborts the job: unwinding would finalise MPI, which waits for the
    /// other ranks, and they wait in a collective for this one.
    fn install_panic_abort(rank: usize) {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            eprint!("rank {rank}: ");
            previous(info);
            SimpleCommunicator::world().abort(101);
        }));
    }

    impl Mpi {
        pub fn all_reduce_sum(&self, data: &mut [f32]) {
            let mut sum = self.scratch.borrow_mut();
            sum.resize(data.len(), 0.0);
            self.watchdog.watch(|| {
                self.world
                    .all_reduce_into(&*data, &mut sum[..], SystemOperation::sum())
            });
            data.copy_from_slice(&sum);
        }

        pub fn broadcast(&self, data: &mut [f32]) {
            self.watchdog
                .watch(|| self.world.process_at_rank(0).broadcast_into(data));
        }

        pub fn all_gather(&self, value: u64) -> Vec<u64> {
            let mut all = vec![0u64; self.world.size() as usize];
            self.watchdog
                .watch(|| self.world.all_gather_into(&value, &mut all[..]));
            all
        }

        pub fn barrier(&self) {
            self.watchdog.watch(|| self.world.barrier());
        }

        pub fn abort(&self, error: &anyhow::Error) -> ! {
            let line = format!("{error:#}").replace('\n', " ");
            eprintln!(
                "error: rank {} of {}: {line}; stopping every rank",
                self.world.rank(),
                self.world.size()
            );
            self.world.abort(1)
        }
    }
}
