//! An unbounded run on more cores than partitions: windows close as the
//! stream moves, and a run after Ctrl-C resumes where it stopped.

use super::*;

#[test]
fn an_unbounded_run_on_more_cores_than_partitions_closes_windows_and_resumes_after_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let b = brokers();
    let topic = unique("one-partition");
    percore(&[
        "gen",
        "market_data",
        "--rows",
        "300000",
        "--format",
        "jsonl",
        "--output",
        &format!("kafka://{b}/{topic}?partitions=1&key=symbol"),
    ]);
    let csv = dir.path().join("m.csv");
    percore(&[
        "gen",
        "market_data",
        "--rows",
        "300000",
        "--output",
        csv.to_str().unwrap(),
    ]);
    let group = unique("unbounded");
    let src = source("market_data", &topic, &group, 500);
    // Two cores, one partition: one core reads nothing, and must not hold
    // the other's windows back.
    let out = dir.path().join("first.csv");
    let mut run = spawn(
        &[
            "run",
            "--scenario",
            "s3a_tumbling",
            "--source",
            &src,
            "--cores",
            "2",
            "--format",
            "csv",
        ],
        &out,
    );
    let started = Instant::now();
    while lines(&std::fs::read(&out).unwrap()).len() < 1000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no window closed while the unbounded run ran"
        );
        assert!(
            run.try_wait().unwrap().is_none(),
            "the unbounded run ended by itself"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = run.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C exits 130");
    // A query with state commits nothing on Ctrl-C: the same group reads
    // everything again and gives the whole answer.
    let what = "tumbling after Ctrl-C, from the last commit";
    assert_two_cores_give_the_file_answer("s3a_tumbling", &src, &csv, what);
}
