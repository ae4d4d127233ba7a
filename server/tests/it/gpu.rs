//! The GPU computes the CPU's focus on real data: WordNet's sample graph, exported by
//! `cybergraph edges` and solved by `cybergraph focus` on each device. Skips, saying why, where
//! no GPU can be used (no CUDA driver or device, or a build without the `cuda` feature).

use std::process::Command;

use crate::*;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/wordnet");

#[test]
fn wordnet_focus_on_a_gpu_is_the_cpus_bit_for_bit() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    run_cli(&["import", "--data", data.to_str().unwrap(), "wordnet", SAMPLE]);
    let edges = root.path().join("wordnet.edges");
    run_cli(&["edges", "--data", data.to_str().unwrap(), "--out", edges.to_str().unwrap()]);
    let solve = |device: &str| {
        let out = root.path().join(format!("focus-{device}.txt"));
        let args = ["focus", "--edges", edges.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", device];
        let run = Command::new(BIN).args(args).output().unwrap();
        run.status.success().then(|| std::fs::read_to_string(&out).unwrap()).ok_or(run.stderr)
    };
    let on_gpu = match solve("cuda") {
        Ok(focus) => focus,
        Err(stderr) => {
            let why = String::from_utf8_lossy(&stderr);
            assert!(why.contains("no GPU") || why.contains("no CUDA backend"), "focus --device cuda: {why}");
            return eprintln!("skipped on CUDA: {why}");
        }
    };
    let on_cpu = solve("cpu").unwrap_or_else(|stderr| panic!("{}", String::from_utf8_lossy(&stderr)));
    assert!(on_cpu.lines().count() > 1000);
    // Shortest round-trip decimals: equal text is equal bits.
    assert!(on_gpu == on_cpu, "WordNet's focus differs between the GPU and the CPU");
}
