//! The text tower (HF `CLIPTextTransformer`, key prefix `text_model.`).

use burn::module::Module;
use burn::nn::Embedding;
use burn::tensor::{Device, Int, Tensor};

use super::build::{Builder, block};
use super::encoder::{Encoder, LayerNorm};
use crate::config::TextConfig;
use crate::error::Result;
use crate::loader::Init;

/// Token + absolute position embeddings (`text_model.embeddings`).
#[derive(Module, Debug)]
pub struct TextEmbeddings {
    /// `[vocab, width]`.
    pub token_embedding: Embedding,
    /// `[context, width]`.
    pub position_embedding: Embedding,
}

/// Causal transformer over token ids, pooled at the end token.
#[derive(Module, Debug)]
pub struct TextTransformer {
    pub embeddings: TextEmbeddings,
    pub encoder: Encoder,
    pub final_layer_norm: LayerNorm,
}

impl TextTransformer {
    pub(crate) fn build(c: &TextConfig, b: &mut Builder, device: &Device) -> Result<Self> {
        let w = c.hidden_size;
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
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                block(
                    b,
                    &format!("{p}.encoder.layers.{i}"),
                    w,
                    c.intermediate_size,
                    c.num_attention_heads,
                    c.num_hidden_layers,
                    c.hidden_act,
                    c.layer_norm_eps,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let final_layer_norm = b.layer_norm(&format!("{p}.final_layer_norm"), w, c.layer_norm_eps)?;
        let _ = device;
        Ok(TextTransformer { embeddings, encoder: Encoder { layers }, final_layer_norm })
    }

    /// `ids`: `[batch, tokens]` (tokens ≤ context), `pool_index`: `[batch]` — the position of
    /// each row's end token, chosen on the host by the config's pooling rule.
    /// Returns the pooled, final-normed hidden state `[batch, width]`.
    pub fn forward(&self, ids: Tensor<2, Int>, pool_index: Tensor<1, Int>) -> Tensor<2> {
        let [b, t] = ids.dims();
        let pos = self.embeddings.position_embedding.weight.val().slice(0..t); // [t, w]
        let x = self.embeddings.token_embedding.forward(ids) + pos.unsqueeze_dim::<3>(0);
        let x = self.encoder.forward(x, true);
        let [_, _, w] = x.dims();
        // Gather row `b * t + pool_index[b]` of the flattened hidden states before the final
        // norm: LayerNorm is per token, so normalising the pooled rows alone is identical and
        // t times cheaper.
        let offsets = Tensor::<1, Int>::arange(0..b as i64, &pool_index.device()) * t as i64;
        let pooled = x.reshape([b * t, w]).select(0, offsets + pool_index);
        self.final_layer_norm.forward(pooled)
    }
}
