//! The values parser and Helm's merge on arbitrary input: no panic, no stack overflow, no
//! hang, whatever the text. The input is up to four YAML layers separated by NUL bytes: the
//! chart's defaults, then `-f` files; a block `sub` stands for a dependency's values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stackctl::values::{MergeOptions, merge_chain_with, parse_layer, scope_subchart};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut layers = Vec::new();
    for (index, part) in text.split('\0').take(4).enumerate() {
        // Every reader of YAML stackctl has sees the same text.
        let _ = stackctl::nesting::yaml_too_deep(part, stackctl::nesting::MAX_DEPTH);
        let _ = stackctl::deps::document::Source::parse(part);
        match parse_layer(&format!("layer{index}.yaml"), part) {
            Ok(layer) => layers.push(layer),
            Err(error) => {
                // A position is always inside the text (1-based).
                assert!(error.line >= 1 && error.column >= 1, "{error}");
                return;
            }
        }
    }
    let Some((defaults, rest)) = layers.split_first() else {
        return;
    };
    let options = MergeOptions {
        subcharts: vec!["sub".to_string()],
    };
    let merged = merge_chain_with(defaults, rest, &options);
    // Every pointer of the merged values has an origin and a history.
    let mut pointers = vec![String::new()];
    let mut walked = 0;
    while let Some(pointer) = pointers.pop() {
        walked += 1;
        if walked > 10_000 {
            break;
        }
        let origin = merged.locate(&pointer);
        assert!(
            origin.is_some() || pointer.is_empty(),
            "no origin for {pointer}"
        );
        let _ = merged.history(&pointer);
        match merged.get(&pointer) {
            Some(serde_json::Value::Object(map)) => {
                for key in map.keys() {
                    pointers.push(format!("{pointer}/{}", stackctl::values::escape_key(key)));
                }
            }
            Some(serde_json::Value::Array(items)) => {
                for i in 0..items.len() {
                    pointers.push(format!("{pointer}/{i}"));
                }
            }
            _ => {}
        }
    }
    let _ = serde_json::to_string(&merged.value);
    if let Some(sub_defaults) = layers.get(1) {
        if let Ok(scoped) = scope_subchart(&merged, "sub", sub_defaults) {
            let mut merged = merged.clone();
            merged.embed_subchart("sub", &scoped);
            let _ = merged.locate("/sub");
        }
    }
});
