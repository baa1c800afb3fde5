use super::*;
use crate::io_wait::on_executor;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use percore_operators::SqlType;

/// Every batch (its rows' ids, the range of byte positions it names) the
/// shares of `input` read, taking a batch from each share in turn; each
/// share's ranges ascend.
async fn read_all(input: &dyn PartitionedSource, parts: usize) -> Vec<(Vec<i64>, (i64, i64))> {
    let mut rows = Vec::new();
    let mut shares: Vec<_> = (0..parts)
        .map(|p| (input.open(p, parts).unwrap().unwrap().source, -1))
        .collect();
    while !shares.is_empty() {
        let mut k = 0;
        while k < shares.len() {
            let (share, last) = &mut shares[k];
            while let Some(f) = share.fill() {
                f.await.unwrap();
            }
            let Some(b) = share.next_batch().unwrap() else {
                shares.remove(k);
                continue;
            };
            let range = share.row_range().expect("a batch names its range");
            assert!(range.0 > *last, "a share's rows in file order");
            *last = range.1;
            let ids = b.column(0).as_primitive::<Int64Type>();
            rows.push((ids.values().to_vec(), range));
            k += 1;
        }
    }
    rows
}

#[test]
fn every_line_is_read_by_exactly_one_share_at_its_byte_position() {
    // One executor for the whole test: it reads hundreds of inputs, and an
    // executor per read spent most of its time on io_uring rings.
    on_executor(async {
        let dir = tempfile::tempdir().unwrap();
        let cols = vec![Column::new("id", SqlType::BigInt)];
        let mut seed = 7u64;
        for rows in [0usize, 1, 2, 5, 37, 400] {
            // Lines of varied length, some blank (JSON lines skips them).
            let (mut csv, mut json, mut want) = (String::from("id\n"), String::new(), Vec::new());
            for i in 0..rows {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pad = (seed >> 60) as usize;
                want.push((i as i64, csv.len() as i64, json.len() as i64));
                csv.push_str(&format!("{i}{}\n", ",x".repeat(pad)));
                json.push_str(&format!("{{\"id\":{i}{}}}\n", " ".repeat(pad)));
                if pad.is_multiple_of(3) {
                    json.push('\n');
                }
            }
            let (c, j) = (dir.path().join("t.csv"), dir.path().join("t.jsonl"));
            std::fs::write(&c, &csv).unwrap();
            std::fs::write(&j, &json).unwrap();
            for (chunk, stripe) in [
                (1, 1),
                (3, 7),
                (64, 5),
                (7, 64),
                (CHUNK, 100),
                (CHUNK, STRIPE),
            ] {
                // Tiny reads or stripes over the largest file add no
                // boundary the smaller ones lack, only many thousand more
                // reads.
                if (chunk < 64 || stripe < 64) && rows > 37 {
                    continue;
                }
                for parts in 1..=5 {
                    for (name, path, format, at) in [
                        ("csv", &c, Format::Csv, 1),
                        ("jsonl", &j, Format::JsonLines, 2),
                    ] {
                        let f = FileInput::new(path, format, &cols, 4, OnError::Fail)
                            .unwrap()
                            .with_sizes(chunk, stripe);
                        let exp: Vec<(i64, i64)> = want
                            .iter()
                            .map(|w| (w.0, if at == 1 { w.1 } else { w.2 }))
                            .collect();
                        // Stripes in turn, then claimed as the shares go.
                        for (mode, input) in [
                            ("in turn", Arc::new(f.clone()) as _),
                            ("claimed", f.balanced().unwrap()),
                        ] {
                            let at =
                                format!("{name} {mode} rows={rows} chunk={chunk} parts={parts}");
                            // A batch is consecutive lines (ids one apart),
                            // its range their first and last line's start.
                            let mut got = Vec::new();
                            for (ids, range) in read_all(&*input, parts).await {
                                assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{at}");
                                let pos = |id: &i64| exp[*id as usize].1;
                                assert_eq!(range, (pos(&ids[0]), pos(ids.last().unwrap())), "{at}");
                                got.extend(ids.iter().map(|id| (*id, pos(id))));
                            }
                            got.sort_by_key(|r| r.1);
                            assert_eq!(got, exp, "{at}");
                        }
                    }
                }
            }
        }
    })
}
