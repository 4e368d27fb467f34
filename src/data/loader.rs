//! Batches prepared on a CPU thread while the GPU works: the thread runs ahead by a couple of
//! batches (a bounded channel), so the GPU never waits on image preparation.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::Dataset;

pub struct Loader {
    rx: Receiver<(u64, Vec<f32>)>,
    _thread: JoinHandle<()>,
}

impl Loader {
    /// Prepares batches for steps `start..end` in order.
    pub fn spawn(
        data: Arc<Dataset>,
        start: u64,
        end: u64,
        batch_size: usize,
        seed: u64,
        flip: bool,
    ) -> Loader {
        let (tx, rx) = sync_channel(2);
        let thread = std::thread::spawn(move || {
            for step in start..end {
                if tx
                    .send((step, data.batch(step, batch_size, seed, flip)))
                    .is_err()
                {
                    return; // the trainer stopped
                }
            }
        });
        Loader {
            rx,
            _thread: thread,
        }
    }

    /// The batch of `step` (they arrive in order).
    pub fn next(&self, step: u64) -> Vec<f32> {
        let (s, batch) = self.rx.recv().expect("loader thread ended early");
        assert_eq!(s, step, "batches arrive in step order");
        batch
    }
}
