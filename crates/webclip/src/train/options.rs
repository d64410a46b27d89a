//! Training settings as a user states them, and the one place they become a validated
//! [`TrainConfig`].
//!
//! Every face maps onto [`TrainOptions`]: the CLI fills it from its flags, the wasm bindings
//! deserialise the npm trainer's options object into it (its field names are the npm option
//! names), and [`TrainOptions::resolve`] fills what is unset from the run's defaults and checks
//! every value. The npm package's TypeScript layer still type-checks the JS values it is given
//! (so a caller gets a `TypeError` before anything reaches a worker), but no face applies
//! defaults or range rules of its own.

use serde::Deserialize;

use super::{Loss, MicroBatches, TrainConfig, TrainMode};
use crate::error::{Error, Result};

/// The settings of a run, every one optional; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrainOptions {
    /// What trains: `projections`, `last:N` or `all`.
    pub train: Option<TrainMode>,
    /// Keep the image tower and its projection as they are (LiT).
    pub lock_image: Option<bool>,
    /// Keep the text tower and its projection as they are.
    pub lock_text: Option<bool>,
    /// Peak learning rate.
    pub lr: Option<f64>,
    /// AdamW weight decay (matrices only).
    pub weight_decay: Option<f64>,
    /// Linear warmup steps.
    pub warmup: Option<usize>,
    /// Steps of the whole schedule (the cosine reaches 0 there).
    pub steps: Option<usize>,
    /// Global gradient-norm clip; 0 turns clipping off.
    pub grad_clip: Option<f64>,
    /// Largest micro-batch: a step given more pairs accumulates (the npm `batchSize`).
    pub batch_size: Option<usize>,
    /// Micro-batches per step (the CLI's `--accum`).
    pub accum: Option<usize>,
    /// `softmax` or `sigmoid` (unset: the model family's own).
    pub loss: Option<Loss>,
    /// Accepted for the npm contract and ignored: training itself is deterministic (no dropout,
    /// no sampling), so the data order — the caller's — is the only randomness.
    pub seed: Option<u32>,
}

impl TrainOptions {
    /// `defaults` with every set option applied, validated ([`TrainConfig::validate`]).
    pub fn resolve(&self, defaults: TrainConfig) -> Result<TrainConfig> {
        let mut c = defaults;
        if let Some(mode) = self.train {
            c.trainable.mode = mode;
        }
        if let Some(lock) = self.lock_image {
            c.trainable.lock_image = lock;
        }
        if let Some(lock) = self.lock_text {
            c.trainable.lock_text = lock;
        }
        if c.trainable.lock_image && c.trainable.lock_text {
            return Err(Error::InvalidInput(
                "both towers are locked: nothing would train (lock one of them at most)".into(),
            ));
        }
        if let Some(lr) = self.lr {
            c.lr = lr;
        }
        if let Some(wd) = self.weight_decay {
            c.adamw.weight_decay = wd;
        }
        if let Some(steps) = self.steps {
            c.total_steps = steps;
        }
        if let Some(warmup) = self.warmup {
            c.warmup = warmup;
        }
        if let Some(clip) = self.grad_clip {
            if !(clip.is_finite() && clip >= 0.0) {
                return Err(Error::InvalidInput(format!(
                    "the gradient clip must be a non-negative number (0: off), got {clip}"
                )));
            }
            c.grad_clip = (clip > 0.0).then_some(clip);
        }
        c.micro = match (self.batch_size, self.accum) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidInput(
                    "give a micro-batch size or a number of micro-batches, not both".into(),
                ));
            }
            (Some(size), None) => MicroBatches::MaxSize(size),
            (None, Some(count)) => MicroBatches::Count(count),
            (None, None) => c.micro,
        };
        if self.loss.is_some() {
            c.loss = self.loss;
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_fill_and_check() {
        let o: TrainOptions =
            serde_json::from_str(r#"{"train": "last:2", "lr": 0.001, "batchSize": 4, "gradClip": 0}"#).unwrap();
        let c = o.resolve(TrainConfig::interactive()).unwrap();
        assert_eq!(c.trainable.mode, TrainMode::Last(2));
        assert_eq!(c.lr, 0.001);
        assert_eq!(c.grad_clip, None);
        assert_eq!(c.micro.count(10), 3);
        assert!(serde_json::from_str::<TrainOptions>(r#"{"learningRate": 1}"#).is_err());
        let o: TrainOptions = serde_json::from_str(r#"{"loss": "sigmoid"}"#).unwrap();
        assert_eq!(o.resolve(TrainConfig::interactive()).unwrap().loss, Some(super::super::Loss::Sigmoid));
        let e = serde_json::from_str::<TrainOptions>(r#"{"loss": "hinge"}"#).unwrap_err().to_string();
        assert!(e.contains("expected softmax or sigmoid"), "{e}");
        let bad = |json: &str| {
            serde_json::from_str::<TrainOptions>(json)
                .unwrap()
                .resolve(TrainConfig::finetune(10))
                .unwrap_err()
                .to_string()
        };
        let e = serde_json::from_str::<TrainOptions>(r#"{"train": "everything"}"#).unwrap_err().to_string();
        assert!(e.contains("expected projections, last:N"), "{e}");
        assert!(bad(r#"{"lr": -1}"#).contains("learning rate"));
        assert!(bad(r#"{"weightDecay": -0.1}"#).contains("weight decay"));
        assert!(bad(r#"{"accum": 0}"#).contains("at least 1"));
        assert!(bad(r#"{"lockImage": true, "lockText": true}"#).contains("nothing would train"));
        assert!(bad(r#"{"steps": 0}"#).contains("steps"));
    }
}
