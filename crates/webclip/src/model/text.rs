//! The text tower (HF `CLIPTextTransformer` / `SiglipTextTransformer`, key prefix
//! `text_model.`). CLIP's attention is causal and pools at the end token; SigLIP's is
//! bidirectional, pools the last position of the padded sequence and adds a Linear `head`.

use burn::module::Module;
use burn::nn::{Embedding, Linear};
use burn::tensor::{Int, Tensor};

use super::build::{Builder, Init};
use super::encoder::{Encoder, LayerNorm};
use crate::config::TextConfig;
use crate::error::Result;

/// Token + absolute position embeddings (`text_model.embeddings`).
#[derive(Module, Debug)]
pub struct TextEmbeddings {
    /// `[vocab, width]`.
    pub token_embedding: Embedding,
    /// `[context, width]`.
    pub position_embedding: Embedding,
}

/// Transformer over token ids, pooled at one position per text.
#[derive(Module, Debug)]
pub struct TextTransformer {
    pub embeddings: TextEmbeddings,
    pub encoder: Encoder,
    pub final_layer_norm: LayerNorm,
    /// `[width → projection_size]` with bias (SigLIP).
    pub head: Option<Linear>,
    /// Causal self-attention (CLIP) or bidirectional (SigLIP).
    #[module(skip)]
    pub causal: bool,
}

impl TextTransformer {
    /// `head_dim`: the SigLIP head's output width (`None`: CLIP, no head).
    pub(crate) fn build(c: &TextConfig, head_dim: Option<usize>, b: &mut Builder) -> Result<Self> {
        let w = c.encoder.hidden_size;
        let p = "text_model";
        let embeddings = TextEmbeddings {
            token_embedding: Embedding {
                weight: b.param(
                    &format!("{p}.embeddings.token_embedding.weight"),
                    [c.vocab_size, w],
                    Init::Normal(0.02),
                )?,
            },
            position_embedding: Embedding {
                weight: b.param(
                    &format!("{p}.embeddings.position_embedding.weight"),
                    [c.max_position_embeddings, w],
                    Init::Normal(0.01),
                )?,
            },
        };
        let encoder = b.encoder(&format!("{p}.encoder"), &c.encoder)?;
        let final_layer_norm = b.layer_norm(&format!("{p}.final_layer_norm"), w, c.encoder.layer_norm_eps)?;
        let head = match head_dim {
            Some(e) => Some(b.linear(&format!("{p}.head"), w, e, true, (w as f32).powf(-0.5))?),
            None => None,
        };
        Ok(TextTransformer { embeddings, encoder, final_layer_norm, head, causal: c.causal })
    }

    /// `ids`: `[batch, tokens]` (tokens ≤ context), `pool_index`: `[batch]` — the position of
    /// each row's end token, chosen on the host by the config's pooling rule.
    /// Returns the pooled, final-normed hidden state `[batch, width]` (through the head:
    /// `[batch, projection_size]`). LayerNorm is per token, so normalising only the pooled rows
    /// is identical to HF's norm-then-gather.
    pub fn forward(&self, ids: Tensor<2, Int>, pool_index: Tensor<1, Int>) -> Tensor<2> {
        self.finish(self.prefix(ids, 0), pool_index, 0)
    }

    /// Token + position embeddings and encoder layers `0..layers`: `[batch, tokens]` →
    /// `[batch, tokens, width]`.
    pub fn prefix(&self, ids: Tensor<2, Int>, layers: usize) -> Tensor<3> {
        let [_, t] = ids.dims();
        let pos = self.embeddings.position_embedding.weight.val().slice(0..t); // [t, w]
        let x = self.embeddings.token_embedding.forward(ids) + pos.unsqueeze_dim::<3>(0);
        self.encoder.forward_until(x, self.causal, layers)
    }

    /// Layers `start..` on the output of [`TextTransformer::prefix`], pooled and final-normed:
    /// `[batch, tokens, width]` → `[batch, width]`.
    pub fn finish(&self, x: Tensor<3>, pool_index: Tensor<1, Int>, start: usize) -> Tensor<2> {
        let pooled = self.final_layer_norm.forward(self.encoder.forward_pooled_from(x, self.causal, pool_index, start));
        match &self.head {
            Some(head) => head.forward(pooled),
            None => pooled,
        }
    }
}
