use proptest::prelude::*;

use super::*;
use crate::codec::RowBatcher;

/// The schema the tests fill: one column of every SQL type.
fn columns() -> Vec<Column> {
    vec![
        Column::new("n", SqlType::BigInt),
        Column::new("t", SqlType::Timestamp),
        Column::new("f", SqlType::Double),
        Column::new(
            "d",
            SqlType::Decimal {
                precision: 9,
                scale: 2,
            },
        ),
        Column::new("s", SqlType::Varchar),
        Column::new("b", SqlType::Boolean),
    ]
}

/// A value of column `k` of [`columns`], or NULL.
fn value(k: usize) -> BoxedStrategy<Scalar> {
    let v = match k {
        0 => any::<i64>().prop_map(Scalar::BigInt).boxed(),
        1 => any::<i64>().prop_map(Scalar::Timestamp).boxed(),
        2 => (-1e9f64..1e9).prop_map(Scalar::Double).boxed(),
        3 => (-999_999_999i128..=999_999_999)
            .prop_map(|v| Scalar::Decimal(v, 2))
            .boxed(),
        4 => "[a-z é]{0,5}".prop_map(Scalar::Varchar).boxed(),
        _ => any::<bool>().prop_map(Scalar::Boolean).boxed(),
    };
    prop_oneof![1 => Just(Scalar::Null), 4 => v].boxed()
}

fn push(col: &mut Built, v: &Scalar) {
    // As the CSV readers append: numbers and times as native values.
    match v {
        Scalar::Varchar(s) => col.push_text(s),
        Scalar::BigInt(x) | Scalar::Timestamp(x) => col.push_i64(*x),
        Scalar::Decimal(x, _) => col.push_i128(*x),
        v => col.push(v.clone()),
    }
}

proptest! {
    /// Rows appended to typed columns, some abandoned part way and rolled
    /// back, come out as the batches [`RowBatcher`] makes of the committed
    /// rows alone (unread columns NULL in both).
    #[test]
    fn typed_rows_batch_what_the_row_batcher_batches(
        rows in proptest::collection::vec(
            ((value(0), value(1), value(2)), (value(3), value(4), value(5)), proptest::option::of(0usize..=6)),
            0..40,
        ),
        batch_size in 1usize..8,
        read in proptest::collection::vec(any::<bool>(), 6),
    ) {
        let cols = columns();
        let (mut typed, mut batcher) = (TypedRows::new(&cols, batch_size), RowBatcher::new(&cols, batch_size));
        typed.read_only(&read);
        batcher.read_only(&read);
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for ((a, b, c), (d, e, f), abandon_at) in rows {
            let row = [a, b, c, d, e, f];
            // Columns the query does not read take no value (NULL in a row).
            let row: Vec<Scalar> = row
                .into_iter()
                .zip(&read)
                .map(|(v, r)| if *r { v } else { Scalar::Null })
                .collect();
            let upto = abandon_at.unwrap_or(row.len());
            for (k, v) in row.iter().enumerate().take(upto) {
                if read[k] {
                    push(typed.column(k), v);
                }
            }
            if abandon_at.is_some() {
                typed.rollback();
                continue;
            }
            got.extend(typed.commit());
            want.extend(batcher.push(&row));
        }
        got.extend(typed.flush());
        want.extend(batcher.flush());
        prop_assert_eq!(got, want);
    }
}
