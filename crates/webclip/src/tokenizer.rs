//! Tokenisation through the `tokenizers` crate and the checkpoint's own `tokenizer.json`,
//! whatever its model: CLIP's (NFC → whitespace collapse → lowercase → CLIP's split regex →
//! byte-level BPE with `</w>`, then `<|startoftext|> … <|endoftext|>`), SigLIP 2's Gemma
//! SentencePiece-style BPE, or any other the file describes. Identical ids to HF's fast
//! tokenizer (checked against tests/fixtures/tokens.json and the SigLIP fixtures), including
//! truncation: a long text keeps its first tokens and the special tokens the file's
//! post-processor adds.
//!
//! Padding follows the model: CLIP pads a batch to its longest row (the causal mask makes the pad
//! id irrelevant); SigLIP pads every row to the full context with the tokenizer's pad token
//! (`tokenizer_config.json`'s `pad_token`, as HF's processor with `padding="max_length"`),
//! because its text embedding is the hidden state at the last padded position.

use tokenizers::{PaddingParams, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::config::{TextConfig, TextPooling};
use crate::error::{Error, Result};

/// A loaded tokenizer plus the context length it truncates to.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    context: usize,
    /// The pad token's id, when the files name one (see [`Tokenizer::set_pad_token`]).
    pad_id: Option<u32>,
    /// The file as given, written back unchanged when a trained model is exported.
    source: std::sync::Arc<Vec<u8>>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer(vocab {}, context {})", self.vocab_size(), self.context)
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` bytes. Truncation and padding settings in the file are replaced:
    /// truncation to `context` tokens (special tokens included), no padding.
    pub fn from_bytes(bytes: &[u8], context: usize) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::Tokenizer("tokenizer.json is empty".into()));
        }
        // Parsed here first because the tokenizers crate panics instead of returning an error on
        // some bad files (found by fuzz/fuzz_targets/tokenizer_json.rs): a JSON error inside the
        // `decoder` value, invalid escapes included (an `expect` in its deserializer), and a
        // post-processor template naming a special token it does not define (at the first encode).
        let json: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::Tokenizer(format!("tokenizer.json could not be loaded: not valid JSON ({e})")))?;
        check_post_processor(json.get("post_processor"))?;
        // A file saved with padding on names its pad id; `tokenizer_config.json` may override it.
        let pad_id = json.get("padding").and_then(|p| p.get("pad_id")).and_then(serde_json::Value::as_u64);
        let pad_id = pad_id.and_then(|p| u32::try_from(p).ok());
        // From the parsed value: the 3.6 MB CLIP file is parsed once, not twice.
        let mut inner: tokenizers::Tokenizer = serde_json::from_value(json)
            .map_err(|e| Error::Tokenizer(format!("tokenizer.json could not be loaded: {e}")))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: context,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        inner.with_padding(None::<PaddingParams>);
        Ok(Tokenizer { inner, context, pad_id, source: std::sync::Arc::new(bytes.to_vec()) })
    }

    /// Takes the pad token from `tokenizer_config.json` (`"pad_token": "<pad>"` or an added-token
    /// object with `content`), as HF's tokenizer does. A file without one changes nothing; a pad
    /// token the vocabulary lacks is an error.
    pub fn set_pad_token(&mut self, tokenizer_config: &[u8]) -> Result<()> {
        const FILE: &str = "tokenizer_config.json";
        let json: serde_json::Value = serde_json::from_slice(tokenizer_config)
            .map_err(|e| Error::Tokenizer(format!("{FILE} is not valid JSON ({e})")))?;
        let token = match json.get("pad_token") {
            None | Some(serde_json::Value::Null) => return Ok(()),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => match v.get("content").and_then(serde_json::Value::as_str) {
                Some(s) => s.to_string(),
                None => {
                    return Err(Error::Tokenizer(format!(
                        "{FILE}: pad_token must be a string or an object with \"content\", found {v}"
                    )));
                }
            },
        };
        match self.inner.token_to_id(&token) {
            Some(id) => {
                self.pad_id = Some(id);
                Ok(())
            }
            None => Err(Error::Tokenizer(format!("{FILE}: pad_token {token:?} is not in tokenizer.json's vocabulary"))),
        }
    }

    /// The pad token's id, when `tokenizer.json` or `tokenizer_config.json` names one.
    pub fn pad_id(&self) -> Option<u32> {
        self.pad_id
    }

    /// A padded batch for a text tower of config `text`: CLIP's rows padded to the longest with
    /// the config's pad id; SigLIP's to the full context with the tokenizer's pad token (the
    /// config's `pad_token_id` when the files name none).
    pub fn batch(&self, rows: &[Vec<u32>], text: &TextConfig) -> TokenBatch {
        match text.pooling {
            TextPooling::LastPadded => {
                TokenBatch::new(rows, self.pad_id.unwrap_or(text.pad_token_id), text.pooling, Some(self.context))
            }
            _ => TokenBatch::new(rows, text.pad_token_id, text.pooling, None),
        }
    }

    /// The `tokenizer.json` bytes it was loaded from.
    pub fn source_bytes(&self) -> &[u8] {
        &self.source
    }

    /// Number of ids the tokenizer can produce (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string, if the vocab has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token string of an id, if the vocab has it.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The context length ids are truncated to.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Ids of `text` with start/end tokens, truncated to the context, unpadded.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc =
            self.inner.encode(text, true).map_err(|e| Error::Tokenizer(format!("could not tokenize text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }
}

/// Checks that every `TemplateProcessing` template (also inside a `Sequence`) uses only special
/// tokens its `special_tokens` map defines: tokenizers loads such a file, then panics on the
/// first encode. Templates are recognised by their `single`/`pair` lists, not by `type`,
/// because tokenizers also accepts a post-processor without one (found by the fuzzer).
fn check_post_processor(p: Option<&serde_json::Value>) -> Result<()> {
    use serde_json::Value;
    let Some(p) = p else {
        return Ok(());
    };
    for inner in p.get("processors").and_then(Value::as_array).into_iter().flatten() {
        check_post_processor(Some(inner))?;
    }
    let defined = p.get("special_tokens").and_then(Value::as_object);
    for template in ["single", "pair"] {
        for piece in p.get(template).and_then(Value::as_array).into_iter().flatten() {
            if let Some(id) = piece.get("SpecialToken").and_then(|s| s.get("id")).and_then(Value::as_str)
                && !defined.is_some_and(|d| d.contains_key(id))
            {
                return Err(Error::Tokenizer(format!(
                    "tokenizer.json: the post_processor's {template} template uses the special token {id:?}, \
                     which its special_tokens do not define"
                )));
            }
        }
    }
    Ok(())
}

/// A padded batch of token ids ready for the text tower.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// Row-major `[batch, len]`, padded with `pad_id` after each row's end.
    pub ids: Vec<i64>,
    pub batch: usize,
    /// Longest row (the tower runs on this many positions, not the full context).
    pub len: usize,
    /// Per row, the position whose hidden state is the text embedding.
    pub pool_index: Vec<i64>,
}

impl TokenBatch {
    /// Pads `rows` to `pad_to` (`None`: their longest length) and picks each row's pooling
    /// position with `pooling`.
    pub fn new(rows: &[Vec<u32>], pad_id: u32, pooling: TextPooling, pad_to: Option<usize>) -> Self {
        let longest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let len = pad_to.map_or(longest, |p| p.max(longest));
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut pool_index = Vec::with_capacity(rows.len());
        for row in rows {
            ids.extend(row.iter().map(|&x| x as i64));
            ids.extend(std::iter::repeat_n(pad_id as i64, len - row.len()));
            pool_index.push(match pooling {
                TextPooling::LastPadded => len - 1,
                other => pool_position(row, other),
            } as i64);
        }
        TokenBatch { ids, batch: rows.len(), len, pool_index }
    }
}

/// transformers' pooling rule on one row: argmax (first maximum) or the first `eos` (0 when the
/// row has none, as `argmax` over an all-false mask gives).
pub fn pool_position(row: &[u32], pooling: TextPooling) -> usize {
    match pooling {
        TextPooling::Argmax => {
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = i;
                }
            }
            best
        }
        TextPooling::FirstEos(eos) => row.iter().position(|&x| x == eos).unwrap_or(0),
        TextPooling::LastPadded => row.len().saturating_sub(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_rules() {
        let row = [49406, 320, 49407, 49407, 5];
        assert_eq!(pool_position(&row, TextPooling::Argmax), 2);
        assert_eq!(pool_position(&row, TextPooling::FirstEos(49407)), 2);
        assert_eq!(pool_position(&row, TextPooling::FirstEos(7)), 0);
        let b = TokenBatch::new(&[vec![1, 9, 2], vec![1, 2]], 0, TextPooling::Argmax, None);
        assert_eq!(b.ids, vec![1, 9, 2, 1, 2, 0]);
        assert_eq!(b.pool_index, vec![1, 1]);
        assert_eq!(b.len, 3);
        let b = TokenBatch::new(&[vec![5, 9, 2], vec![5]], 7, TextPooling::LastPadded, Some(4));
        assert_eq!(b.ids, vec![5, 9, 2, 7, 5, 7, 7, 7]);
        assert_eq!(b.pool_index, vec![3, 3]);
    }

    /// The pad token comes from tokenizer_config.json, as HF reads it; bad files say why.
    #[test]
    fn pad_token_from_tokenizer_config() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/siglip/tokenizer.json");
        let mut t = Tokenizer::from_bytes(&std::fs::read(path).unwrap(), 64).unwrap();
        assert_eq!(t.pad_id(), None);
        t.set_pad_token(br#"{"pad_token": "<pad>"}"#).unwrap();
        assert_eq!(t.pad_id(), Some(0));
        t.set_pad_token(br#"{"pad_token": {"content": "<eos>", "__type": "AddedToken"}}"#).unwrap();
        assert_eq!(t.pad_id(), Some(1));
        t.set_pad_token(br#"{"model_max_length": 64}"#).unwrap();
        assert_eq!(t.pad_id(), Some(1), "a file without pad_token changes nothing");
        let e = t.set_pad_token(b"{").unwrap_err().to_string();
        assert!(e.contains("tokenizer_config.json is not valid JSON"), "{e}");
        let e = t.set_pad_token(br#"{"pad_token": "<nope>"}"#).unwrap_err().to_string();
        assert!(e.contains("pad_token \"<nope>\" is not in tokenizer.json's vocabulary"), "{e}");
        let e = t.set_pad_token(br#"{"pad_token": 5}"#).unwrap_err().to_string();
        assert!(e.contains("pad_token must be a string"), "{e}");
    }

    #[test]
    fn bad_tokenizer_files() {
        assert!(Tokenizer::from_bytes(b"", 77).unwrap_err().to_string().contains("empty"));
        let e = Tokenizer::from_bytes(b"{\"not\": \"a tokenizer\"}", 77).unwrap_err().to_string();
        assert!(e.contains("tokenizer.json could not be loaded"), "{e}");
    }
}
