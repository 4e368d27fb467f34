//! Measured kernel choice: where a kernel family has several correct variants, time them on the
//! first use of each shape on this adapter, keep the fastest, and remember it on disk.
//!
//! The cache is one JSON file (`tuning.json` under `$DDPM_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/ddpm`, else `~/.cache/ddpm`) holding, per adapter key (adapter name,
//! backend, driver, driver info and engine version: a new driver or engine re-tunes), a map from
//! shape key (e.g. `matmul b1 m2048 k256 n256 ta0 tb1`) to the chosen variant's name.
//!
//! Modes (`DDPM_TUNE` or `--tune`): `on` (use cached choices, measure new shapes), `cache` (use
//! cached choices only; new shapes get the built-in rules), `retune` (measure every shape again
//! once in this process), `off` (built-in rules only). The default is `on` for GPUs and `off`
//! for CPU adapters, whose variants were chosen by measurement on lavapipe (BENCHMARKS.md) and
//! whose kernels are slow enough that timing the losing candidates costs more than it saves.
//!
//! Every candidate passes the same float64-reference checks (`ddpm selftest`), so the choice
//! changes speed, and results only within each family's stated tolerance.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Result};

use super::Gpu;

/// How measured choice behaves; see the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TuneMode {
    Off,
    Cache,
    On,
    Retune,
}

impl TuneMode {
    pub fn parse(text: &str) -> Result<TuneMode> {
        Ok(match text {
            "off" => TuneMode::Off,
            "cache" => TuneMode::Cache,
            "on" => TuneMode::On,
            "retune" => TuneMode::Retune,
            other => bail!("the tuning mode must be on, off, cache or retune, not '{other}'"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TuneMode::Off => "off",
            TuneMode::Cache => "cache",
            TuneMode::On => "on",
            TuneMode::Retune => "retune",
        }
    }
}

/// The default cache folder (see the module doc).
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("DDPM_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("ddpm")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("ddpm")))
}

type Table = BTreeMap<String, BTreeMap<String, String>>;

/// The choices of this process and the cache file behind them.
pub struct Tuner {
    mode: TuneMode,
    file: Option<PathBuf>,
    adapter_key: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    table: Table,
    /// Shapes measured in this process (so `retune` measures each once).
    measured: HashSet<String>,
    /// Choices taken from the cache and measured here, for reports.
    reused: usize,
    tuned: usize,
    /// Seconds spent timing candidates.
    seconds: f64,
}

/// How long one candidate takes: its fastest of a few runs after a warm-up (which also compiles
/// its pipeline). Load from other work only ever adds time, so the minimum is the estimate.
const TIMED_RUNS: usize = 3;

impl Tuner {
    /// A tuner for one adapter; `cache_dir` None keeps choices in memory only. The cache is read
    /// in every mode (`ddpm info` shows it); an unreadable or corrupt one is ignored with a
    /// warning (it is only a cache) and rewritten on the next measurement.
    pub fn new(mode: TuneMode, cache_dir: Option<PathBuf>, adapter_key: String) -> Tuner {
        let file = cache_dir.map(|d| d.join("tuning.json"));
        let mut table = Table::new();
        {
            if let Some(f) = file.as_ref().filter(|f| f.exists()) {
                match std::fs::read_to_string(f)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Table>(&t).ok())
                {
                    Some(t) => table = t,
                    None => eprintln!(
                        "warning: ignoring the unreadable kernel tuning cache {}",
                        f.display()
                    ),
                }
            }
        }
        Tuner {
            mode,
            file,
            adapter_key,
            state: Mutex::new(State {
                table,
                ..State::default()
            }),
        }
    }

    pub fn mode(&self) -> TuneMode {
        self.mode
    }

    pub fn file(&self) -> Option<&PathBuf> {
        self.file.as_ref()
    }

    pub fn adapter_key(&self) -> &str {
        &self.adapter_key
    }

    /// Choices cached for this adapter.
    pub fn cached_choices(&self) -> BTreeMap<String, String> {
        let state = self.state.lock().unwrap();
        state
            .table
            .get(&self.adapter_key)
            .cloned()
            .unwrap_or_default()
    }

    /// (choices reused from the cache, shapes measured, seconds spent measuring) so far.
    pub fn stats(&self) -> (usize, usize, f64) {
        let s = self.state.lock().unwrap();
        (s.reused, s.tuned, s.seconds)
    }

    /// The variant to use for `key`: the cached choice, or the fastest of `candidates` timed
    /// with `run` (which launches the candidate once; `sync` waits for the device). None where
    /// tuning is off, or in `cache` mode for a shape not in the cache: the caller's rule applies.
    pub fn choose(
        &self,
        key: &str,
        candidates: &[&'static str],
        mut run: impl FnMut(&str),
        sync: impl Fn(),
    ) -> Option<&'static str> {
        if self.mode == TuneMode::Off || candidates.is_empty() {
            return None;
        }
        {
            let mut state = self.state.lock().unwrap();
            let remeasure = self.mode == TuneMode::Retune && !state.measured.contains(key);
            let cached = state
                .table
                .get(&self.adapter_key)
                .and_then(|m| m.get(key))
                .and_then(|name| candidates.iter().find(|c| **c == name.as_str()))
                .copied();
            if let (Some(c), false) = (cached, remeasure) {
                if !state.measured.contains(key) {
                    state.reused += 1;
                    state.measured.insert(key.to_string());
                }
                return Some(c);
            }
            if self.mode == TuneMode::Cache {
                return None;
            }
        }
        if candidates.len() == 1 {
            return Some(candidates[0]);
        }
        let started = Instant::now();
        sync();
        let mut best = (f64::INFINITY, candidates[0]);
        for &c in candidates {
            run(c);
            sync();
            let mut fastest = f64::INFINITY;
            for _ in 0..TIMED_RUNS {
                let t = Instant::now();
                run(c);
                sync();
                fastest = fastest.min(t.elapsed().as_secs_f64());
            }
            if fastest < best.0 {
                best = (fastest, c);
            }
        }
        let mut state = self.state.lock().unwrap();
        state
            .table
            .entry(self.adapter_key.clone())
            .or_default()
            .insert(key.to_string(), best.1.to_string());
        state.measured.insert(key.to_string());
        state.tuned += 1;
        state.seconds += started.elapsed().as_secs_f64();
        if let Err(e) = self.save(&state.table) {
            eprintln!("warning: could not write the kernel tuning cache: {e:#}");
        }
        Some(best.1)
    }

    /// Writes the cache atomically, merged with what other processes wrote since we read it.
    fn save(&self, table: &Table) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut merged: Table = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        for (adapter, choices) in table {
            merged
                .entry(adapter.clone())
                .or_default()
                .extend(choices.clone());
        }
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::files::write_atomic(file, serde_json::to_string_pretty(&merged)?.as_bytes())
    }
}

/// The measured choice among `candidates` (a variant and its name) for `key` on this device, or
/// None where tuning is off (or has no cached choice in `cache` mode): the caller's rule applies.
/// `run(v)` launches candidate `v` once, on scratch outputs (timing must not touch the caller's
/// tensors); the device is synchronised around each timed run.
pub fn pick<V: Copy>(
    gpu: &Gpu,
    key: &str,
    candidates: &[(V, &'static str)],
    mut run: impl FnMut(V),
) -> Option<V> {
    let tuner = gpu.tuner();
    if tuner.mode() == TuneMode::Off {
        return None;
    }
    let names: Vec<&'static str> = candidates.iter().map(|c| c.1).collect();
    let variant = |name: &str| candidates.iter().find(|c| c.1 == name).map(|c| c.0);
    let name = tuner.choose(key, &names, |n| run(variant(n).unwrap()), || gpu.sync())?;
    variant(name)
}
