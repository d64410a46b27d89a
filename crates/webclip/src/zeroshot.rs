//! Zero-shot classification and text→image ranking on top of embeddings.
//!
//! CLIP's recipe (the paper, §3.1.4 and the ImageNet prompt notebook): for each class, encode
//! every template filled with the class name, L2-normalise each embedding, average them and
//! normalise again; the class matrix `W` is `[classes, E]`. An image's probabilities are
//! `softmax(exp(logit_scale) · normalise(img) · Wᵀ)`. SigLIP scores each label on its own,
//! `sigmoid(exp(logit_scale) · cos + logit_bias)` ([`Scoring`]): its probabilities do not sum to
//! 1, and the template ensembling is the same. Everything after the text and image
//! embeddings is a few thousand multiply-adds, done on the host so that every backend gives the
//! same probabilities from the same embeddings.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::templates::{
    CIFAR_TEMPLATES, DEFAULT_TEMPLATES, IMAGENET_TEMPLATES, LANGUAGE_TEMPLATES, STL10_TEMPLATES, language_of,
};

/// A set of prompt templates; each has one `{}` where the label goes. `auto` picks, for each
/// label, the templates of its language ([`crate::templates::language_of`]: Korean, Japanese,
/// Chinese by script; English otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    list: Vec<String>,
    auto: bool,
}

impl Templates {
    /// `"default"`, `"stl10"`, `"cifar"`, `"imagenet"`, a language (`"ko"`, `"ja"`, `"zh"`,
    /// `"es"`, `"fr"`, `"de"`) or `"auto"` (each label in its own language's templates).
    pub fn named(name: &str) -> Result<Self> {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let list: &[&str] = match name {
            "default" => DEFAULT_TEMPLATES,
            "auto" => return Ok(Templates { list: owned(DEFAULT_TEMPLATES), auto: true }),
            "stl10" => STL10_TEMPLATES,
            "cifar" | "cifar10" | "cifar100" => CIFAR_TEMPLATES,
            "imagenet" => IMAGENET_TEMPLATES,
            other => match LANGUAGE_TEMPLATES.iter().find(|(code, _, _)| *code == other) {
                Some((_, _, list)) => list,
                None => {
                    return Err(Error::InvalidInput(format!(
                        "unknown template set {other:?} (default, auto, stl10, cifar, imagenet, ko, ja, zh, es, fr, de, \
                         or a file of templates)"
                    )));
                }
            },
        };
        Ok(Templates { list: owned(list), auto: false })
    }

    /// The templates for `label`: its language's under `auto`, else the set's.
    pub fn for_label(&self, label: &str) -> Vec<String> {
        let lang = if self.auto { language_of(label) } else { None };
        match lang.and_then(|l| LANGUAGE_TEMPLATES.iter().find(|(code, _, _)| *code == l)) {
            Some((_, _, list)) => list.iter().map(|s| s.to_string()).collect(),
            None => self.list.clone(),
        }
    }

    /// Custom templates; each must contain `{}` exactly once.
    pub fn custom<S: AsRef<str>>(templates: &[S]) -> Result<Self> {
        if templates.is_empty() {
            return Err(Error::InvalidInput("no templates given".into()));
        }
        let mut out = Vec::with_capacity(templates.len());
        for t in templates {
            let t = t.as_ref();
            match t.matches("{}").count() {
                1 => out.push(t.to_string()),
                0 => return Err(Error::InvalidInput(format!("template {t:?} has no {{}} where the label goes"))),
                n => {
                    return Err(Error::InvalidInput(format!(
                        "template {t:?} has {n} {{}} placeholders; one is expected"
                    )));
                }
            }
        }
        Ok(Templates { list: out, auto: false })
    }

    /// Templates from a text file: one per line, blank lines and `#` comments skipped.
    pub fn from_lines(text: &str) -> Result<Self> {
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        Self::custom(&lines)
    }

    /// The templates (under `auto`, those of labels in Latin scripts).
    pub fn as_slice(&self) -> &[String] {
        &self.list
    }

    /// `template` with the label in place of `{}`.
    pub fn fill(template: &str, label: &str) -> String {
        template.replacen("{}", label, 1)
    }
}

/// Checks a label list: at least one, none empty, no duplicates.
pub fn check_labels<S: AsRef<str>>(labels: &[S]) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::InvalidInput(
            "no labels given: zero-shot classification needs at least one class name".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for l in labels {
        let l = l.as_ref();
        if l.trim().is_empty() {
            return Err(Error::InvalidInput("a label is empty".into()));
        }
        if !seen.insert(l) {
            return Err(Error::InvalidInput(format!("label {l:?} is given twice; labels must be distinct")));
        }
    }
    Ok(())
}

/// How cosine similarities become probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scoring {
    /// `softmax(exp(logit_scale) · cos)` over the labels (CLIP): they sum to 1.
    Softmax { logit_scale: f32 },
    /// `sigmoid(exp(logit_scale) · cos + logit_bias)` for each label on its own (SigLIP).
    Sigmoid { logit_scale: f32, logit_bias: f32 },
}

impl Scoring {
    /// `"softmax"` or `"sigmoid"` (what `--json` output and the npm package say).
    pub fn name(&self) -> &'static str {
        match self {
            Scoring::Softmax { .. } => "softmax",
            Scoring::Sigmoid { .. } => "sigmoid",
        }
    }

    /// Probabilities from cosine similarities, in the same order.
    pub fn probabilities(&self, cosines: &[f32]) -> Vec<f32> {
        match *self {
            Scoring::Softmax { logit_scale } => {
                let scale = logit_scale.exp();
                softmax(&cosines.iter().map(|c| scale * c).collect::<Vec<_>>())
            }
            Scoring::Sigmoid { logit_scale, logit_bias } => {
                let scale = logit_scale.exp() as f64;
                cosines.iter().map(|&c| sigmoid(scale * c as f64 + logit_bias as f64) as f32).collect()
            }
        }
    }
}

/// `1 / (1 + e^-x)`, without overflow for large |x|.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// One class's probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub prob: f32,
}

/// One image's similarity to a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankEntry {
    /// Index of the image in the input order.
    pub index: usize,
    /// Cosine similarity between the text and the image.
    pub score: f32,
}

/// Rows scaled to unit L2 norm (host side).
pub fn normalize(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A ready zero-shot head: labels plus their normalised, template-averaged embeddings.
#[derive(Debug, Clone)]
pub struct Classifier {
    labels: Vec<String>,
    /// `[classes][E]`, unit rows.
    weights: Vec<Vec<f32>>,
}

impl Classifier {
    /// Builds the head from per-label lists of template embeddings (`per_label[c][t]`, raw
    /// projected text features).
    pub fn from_embeddings(labels: Vec<String>, per_label: Vec<Vec<Vec<f32>>>) -> Result<Self> {
        check_labels(&labels)?;
        if labels.len() != per_label.len() || per_label.iter().any(Vec::is_empty) {
            return Err(Error::InvalidInput("every label needs at least one template embedding".into()));
        }
        let weights = per_label
            .into_iter()
            .map(|embs| {
                let dim = embs[0].len();
                let mut mean = vec![0f32; dim];
                for e in &embs {
                    for (m, x) in mean.iter_mut().zip(normalize(e)) {
                        *m += x;
                    }
                }
                let n = embs.len() as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                normalize(&mean)
            })
            .collect();
        Ok(Classifier { labels, weights })
    }

    /// The labels, in input order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The class matrix rows (unit norm).
    pub fn weights(&self) -> &[Vec<f32>] {
        &self.weights
    }

    /// Probabilities of one image (raw projected features) for the labels, in label order.
    pub fn probabilities(&self, image_embedding: &[f32], scoring: Scoring) -> Vec<f32> {
        let img = normalize(image_embedding);
        let cosines: Vec<f32> = self.weights.iter().map(|w| dot(&img, w)).collect();
        scoring.probabilities(&cosines)
    }

    /// The `top_k` most probable labels (all when `None`), sorted by probability, descending;
    /// ties keep label order.
    pub fn classify(&self, image_embedding: &[f32], scoring: Scoring, top_k: Option<usize>) -> Vec<LabelScore> {
        let probs = self.probabilities(image_embedding, scoring);
        let mut scored: Vec<LabelScore> =
            self.labels.iter().zip(probs).map(|(l, p)| LabelScore { label: l.clone(), prob: p }).collect();
        scored.sort_by(|a, b| b.prob.total_cmp(&a.prob));
        if let Some(k) = top_k {
            scored.truncate(k);
        }
        scored
    }
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// Images ordered by cosine similarity to a text embedding, best first (ties keep input order).
pub fn rank(text_embedding: &[f32], image_embeddings: &[Vec<f32>]) -> Vec<RankEntry> {
    let q = normalize(text_embedding);
    let mut out: Vec<RankEntry> = image_embeddings
        .iter()
        .enumerate()
        .map(|(index, e)| RankEntry { index, score: dot(&q, &normalize(e)) })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_sets() {
        assert_eq!(Templates::named("default").unwrap().as_slice(), ["a photo of a {}."]);
        assert_eq!(Templates::named("ko").unwrap().as_slice(), ["{}의 사진.", "{} 사진."]);
        let auto = Templates::named("auto").unwrap();
        assert_eq!(auto.for_label("고양이"), ["{}의 사진.", "{} 사진."]);
        assert_eq!(auto.for_label("ねこ"), ["{}の写真。", "{}の画像。"]);
        assert_eq!(auto.for_label("猫"), ["{}的照片。", "一张{}的照片。"]);
        assert_eq!(auto.for_label("cat"), ["a photo of a {}."]);
        assert_eq!(Templates::named("ko").unwrap().for_label("cat"), ["{}의 사진.", "{} 사진."], "only auto switches");
        assert!(Templates::named("xx").unwrap_err().to_string().contains("ko, ja, zh"));
        assert_eq!(Templates::named("stl10").unwrap().as_slice().len(), 2);
        assert_eq!(Templates::named("cifar").unwrap().as_slice().len(), 18);
        assert_eq!(Templates::named("imagenet").unwrap().as_slice().len(), 80);
        assert!(Templates::named("mnist").is_err());
        let e = Templates::custom(&["a photo"]).unwrap_err().to_string();
        assert!(e.contains("has no {} where the label goes"), "{e}");
        assert!(Templates::custom(&["{} and {}"]).is_err());
        let t = Templates::from_lines("# mine\na {} here\n\n  itap of a {}.  \n").unwrap();
        assert_eq!(t.as_slice(), ["a {} here", "itap of a {}."]);
        assert_eq!(Templates::fill("a photo of a {}.", "cat"), "a photo of a cat.");
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_labels::<&str>(&[]).unwrap_err().to_string().contains("at least one"));
        assert!(check_labels(&["cat", "cat"]).unwrap_err().to_string().contains("twice"));
        assert!(check_labels(&["cat", " "]).unwrap_err().to_string().contains("empty"));
        check_labels(&["cat"]).unwrap();
    }

    #[test]
    fn classifier_math() {
        let c = Classifier::from_embeddings(
            vec!["x".into(), "y".into()],
            vec![vec![vec![2.0, 0.0], vec![0.0, 1.0]], vec![vec![0.0, 3.0]]],
        )
        .unwrap();
        let r = std::f32::consts::FRAC_1_SQRT_2;
        assert!((c.weights()[0][0] - r).abs() < 1e-6 && (c.weights()[0][1] - r).abs() < 1e-6);
        let p = c.probabilities(&[1.0, 0.0], Scoring::Softmax { logit_scale: 0.0 });
        let e = (r - 0.0f32).exp();
        assert!((p[0] - e / (e + 1.0)).abs() < 1e-6);
        let single = Classifier::from_embeddings(vec!["only".into()], vec![vec![vec![1.0, 2.0]]]).unwrap();
        assert_eq!(single.classify(&[5.0, -1.0], Scoring::Softmax { logit_scale: 4.6 }, None)[0].prob, 1.0);
        // Sigmoid: each label on its own. cos = r for "x", 0 for "y"; scale e^0 = 1, bias -1.
        let p = c.probabilities(&[1.0, 0.0], Scoring::Sigmoid { logit_scale: 0.0, logit_bias: -1.0 });
        assert!((p[0] - 1.0 / (1.0 + (1.0 - r).exp())).abs() < 1e-6, "{p:?}");
        assert!((p[1] - 1.0 / (1.0 + 1f32.exp())).abs() < 1e-6, "{p:?}");
        let extreme = Scoring::Sigmoid { logit_scale: 10.0, logit_bias: 0.0 }.probabilities(&[-1.0, 1.0]);
        assert_eq!(extreme, [0.0, 1.0]);
        let ranked = rank(&[1.0, 0.0], &[vec![0.0, 1.0], vec![1.0, 0.1], vec![-1.0, 0.0]]);
        assert_eq!(ranked.iter().map(|r| r.index).collect::<Vec<_>>(), [1, 0, 2]);
    }
}
