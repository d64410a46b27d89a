//! Token ids identical to HF's fast CLIPTokenizer on the real CLIP vocab (tests/fixtures/tokens.json).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use webclip::Tokenizer;

#[test]
fn ids_match_hf_fast_tokenizer() {
    let tok = Tokenizer::from_bytes(&read("tokenizer.json"), 77).unwrap();
    assert_eq!(tok.vocab_size(), 49408);
    let cases = json("tokens.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text).unwrap();
        assert_eq!(got, want, "text {:?}", &text[..text.len().min(60)]);
        assert!(got.len() <= 77);
        assert_eq!(*got.last().unwrap(), 49407, "the end token stays last");
    }
}

#[test]
fn spec_vectors_and_truncation() {
    let tok = Tokenizer::from_bytes(&read("tokenizer.json"), 77).unwrap();
    assert_eq!(tok.encode("a photo of a cat.").unwrap(), [49406, 320, 1125, 539, 320, 2368, 269, 49407]);
    assert_eq!(tok.encode("Hello World!").unwrap(), [49406, 3306, 1002, 256, 49407]);
    assert_eq!(tok.encode("").unwrap(), [49406, 49407]);
    assert_eq!(tok.encode("   ").unwrap(), [49406, 49407]);
    let long = "word ".repeat(2000);
    let ids = tok.encode(&long).unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], 49406);
    assert_eq!(ids[76], 49407);
    assert!(ids[1..76].iter().all(|&i| i == ids[1]));
    // A shorter context truncates the same way.
    let short = Tokenizer::from_bytes(&read("tokenizer.json"), 8).unwrap();
    assert_eq!(short.encode("a photo of a cat on a mat").unwrap(), [49406, 320, 1125, 539, 320, 2368, 525, 49407]);
}

#[test]
fn published_templates_are_clips() {
    let t = json("templates.json");
    for (name, list) in t.as_object().unwrap() {
        let ours = webclip::Templates::named(name).unwrap();
        assert_eq!(ours.as_slice(), strings(list).as_slice(), "template set {name}");
    }
}
