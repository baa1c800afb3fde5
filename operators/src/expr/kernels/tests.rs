use crate::ops::testing::run;

#[test]
fn bits_are_collected_for_every_length_around_a_word() {
    for n in (0..200).chain([1000, 1023, 1024, 1025]) {
        let f = |i: usize| (i * 7 + i / 3) % 5 < 2;
        let got = super::compare::collect_bits(n, f);
        assert_eq!(got.len(), n);
        let want: Vec<bool> = (0..n).map(f).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{n} rows");
    }
}

#[test]
fn products_that_cannot_overflow_are_exact_at_the_limits() {
    // DECIMAL(18,4) × BIGINT: |ab| < 10^37, so no row needs a check;
    // either operand order.
    for product in ["x * y", "y * x"] {
        let (rows, _) = run(
            &format!("CREATE STREAM t (x DECIMAL(18,4), y BIGINT); SELECT {product} AS p FROM t"),
            "x,y\n99999999999999.9999,9223372036854775807\n-99999999999999.9999,-9223372036854775808\n0.0001,-1\n,5\n3.5,\n",
            2,
        );
        assert_eq!(
            rows,
            vec![
                "922337203685477579777662796314522.4193",
                "922337203685477579877662796314522.4192",
                "-0.0001",
                "NULL",
                "NULL"
            ],
            "{product}"
        );
    }
}

#[test]
fn products_of_decimals_past_64_bits_are_exact() {
    // DECIMAL(19,0) × BIGINT cannot overflow 38 digits, but its decimals
    // may pass 64 bits: a batch holding one is multiplied in 128 bits, one
    // without in 64 (batches of 2 rows: the second is all 64-bit, and its
    // second product passes 64 bits).
    let (rows, _) = run(
        "CREATE STREAM t (x DECIMAL(19,0), y BIGINT); SELECT x * y AS p FROM t",
        "x,y\n9999999999999999999,-3\n12,5\n-4,-6\n999999999999999999,7\n-9999999999999999999,9223372036854775807\n",
        2,
    );
    assert_eq!(
        rows,
        vec![
            "-29999999999999999997",
            "60",
            "24",
            "6999999999999999993",
            "-92233720368547758060776627963145224193"
        ]
    );
}

#[test]
fn products_that_can_overflow_are_still_checked() {
    let sql = "CREATE STREAM t (x DECIMAL(38,0), y BIGINT); SELECT x * y AS p FROM t";
    let plan = crate::sql::compile(sql).unwrap();
    let mut r = crate::codec::csv::CsvReader::new(
        "t.csv",
        "x,y\n90000000000000000000000000000000000000,10\n".as_bytes(),
        &plan.source.columns,
        8,
        crate::codec::OnError::Fail,
    )
    .unwrap();
    let mut p = crate::ops::Pipeline::new(&plan);
    let err = p.push(r.next_batch().unwrap().unwrap()).unwrap_err();
    assert!(err.to_string().contains("`x * y`"), "{err}");
}

#[test]
fn a_decimal_column_compares_with_a_literal_on_either_side() {
    // x in hundredths; NULL never passes; equal values written two ways.
    let xs: [Option<i64>; 8] = [
        Some(-225),
        Some(150),
        Some(150),
        Some(300),
        None,
        Some(149),
        Some(151),
        Some(-150),
    ];
    let text = ["-2.25", "1.5", "1.50", "3", "", "1.49", "1.51", "-1.5"];
    let csv: String = std::iter::once("id,x\n".to_string())
        .chain(text.iter().enumerate().map(|(i, t)| format!("{i},{t}\n")))
        .collect();
    type Holds = fn(i64, i64) -> bool;
    let ops: [(&str, &str, Holds); 6] = [
        ("=", "=", |a, b| a == b),
        ("<>", "<>", |a, b| a != b),
        ("<", ">", |a, b| a < b),
        ("<=", ">=", |a, b| a <= b),
        (">", "<", |a, b| a > b),
        (">=", "<=", |a, b| a >= b),
    ];
    for (op, mirror, holds) in ops {
        let want: Vec<String> = (0..xs.len())
            .filter(|&i| xs[i].is_some_and(|x| holds(x, 150)))
            .map(|i| i.to_string())
            .collect();
        // Batches of 3 and of 100 rows: the 4-value step's rest, and a batch
        // shorter than one step.
        for where_ in [format!("x {op} 1.5"), format!("1.50 {mirror} x")] {
            for batch in [3, 100] {
                let sql = format!(
                    "CREATE STREAM t (id BIGINT, x DECIMAL(10,2)); SELECT id FROM t WHERE {where_}"
                );
                let (rows, _) = run(&sql, &csv, batch);
                assert_eq!(rows, want, "WHERE {where_}, batches of {batch}");
            }
        }
    }
}
