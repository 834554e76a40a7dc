//! The configuration loader (`Settings::load_from`): a TOML file and
//! environment variables built from the input. Any input gives settings or
//! a `ConfigError` naming a key, never a panic; settings that load print a
//! redacted TOML that loads again to the same settings.
#![no_main]

use std::io::Write;

use confer::config::Settings;
use libfuzzer_sys::fuzz_target;

/// The input is a TOML file, then optionally a line `--env--` followed by
/// `KEY=VALUE` lines (each key gets the `CONFER_` prefix).
fn split(text: &str) -> (&str, Vec<(String, String)>) {
    let (file, env) = text.split_once("\n--env--\n").unwrap_or((text, ""));
    let pairs = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (format!("CONFER_{k}"), v.to_string()))
        .collect();
    (file, pairs)
}

fn scratch(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("confer-fuzz-{}-{name}.toml", std::process::id()));
    let mut file = std::fs::File::create(&path).expect("scratch file");
    file.write_all(text.as_bytes()).expect("scratch write");
    path
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (file, env) = split(text);
    let path = scratch("in", file);
    let Ok(settings) = Settings::load_from(Some(&path), env) else {
        return;
    };
    let shown = settings.to_redacted_toml();
    let again_path = scratch("again", &shown);
    // Redacted secrets may not load again (a redacted URL is not a URL);
    // when it does load, it describes the same settings.
    if let Ok(again) = Settings::load_from(Some(&again_path), Vec::new()) {
        assert_eq!(again.to_redacted_toml(), shown);
    }
});
