//! The `percore` command as a user runs it: exit codes, messages, output.

use std::path::Path;
use std::process::{Command, Output};

mod cores;
mod errors;
mod runs;

fn percore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_percore"))
        .args(args)
        .output()
        .expect("percore runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Runs `percore args` and checks that it exits with `code` and that its
/// stderr holds every one of `needles`; returns the run's output.
fn fails(args: &[&str], code: i32, needles: &[&str]) -> Output {
    let o = percore(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "percore {args:?}: {e}");
    for n in needles {
        assert!(e.contains(n), "percore {args:?}: stderr lacks {n:?}: {e}");
    }
    o
}

fn golden(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(name)
        .display()
        .to_string()
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The JSON a run wrote with `--stats`.
fn read_stats(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}
