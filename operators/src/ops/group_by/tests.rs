use super::super::testing::run;

const DDL: &str = "CREATE STREAM t (k VARCHAR, v BIGINT);";

#[test]
fn changes_emit_one_row_per_input_and_final_one_per_group() {
    let csv = "k,v\na,1\nb,10\na,\na,3\n";
    let q = "SELECT k, COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS s, AVG(v) AS a FROM t GROUP BY k";
    let (rows, _) = run(&format!("{DDL} {q}"), csv, 3);
    assert_eq!(
        rows,
        vec!["a|1|1|1|1", "b|1|1|10|10", "a|2|1|1|1", "a|3|2|4|2"]
    );
    let (rows, _) = run(&format!("{DDL} {q} EMIT FINAL"), csv, 3);
    assert_eq!(rows, vec!["a|3|2|4|2", "b|1|1|10|10"]);
}

#[test]
fn a_global_aggregate_is_one_group() {
    let (rows, _) = run(
        &format!("{DDL} SELECT COUNT(*) AS n, MAX(k) AS m FROM t EMIT FINAL"),
        "k,v\nx,1\nz,2\ny,3\n",
        2,
    );
    assert_eq!(rows, vec!["3|z"]);
}
