use proptest::prelude::*;

use super::*;
use crate::column::ColumnBuilder;

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

/// Appends `v` as the CSV readers do (numbers and times as native values)
/// when `native`, else as the JSON lines reader does (every value as a
/// `Scalar`).
fn push(col: &mut Built, v: &Scalar, native: bool) {
    match v {
        Scalar::Varchar(s) if native => col.push_text(s),
        Scalar::BigInt(x) | Scalar::Timestamp(x) if native => col.push_i64(*x),
        Scalar::Decimal(x, _) if native => col.push_i128(*x),
        v => col.push(v.clone()),
    }
}

/// The reference: `rows` in batches of `batch_size`, each column built by
/// Arrow's own builders value by value (`ColumnBuilder`), a column not
/// `read` all NULL.
fn reference(
    cols: &[Column],
    read: &[bool],
    rows: &[Vec<Scalar>],
    batch_size: usize,
) -> Vec<RecordBatch> {
    rows.chunks(batch_size)
        .map(|chunk| {
            let arrays = cols
                .iter()
                .enumerate()
                .map(|(k, c)| match read[k] {
                    true => {
                        let mut b = ColumnBuilder::new(c.ty, chunk.len());
                        chunk.iter().for_each(|r| b.push(&r[k]));
                        b.finish()
                    }
                    false => new_null_array(&c.ty.to_arrow(), chunk.len()),
                })
                .collect();
            RecordBatch::try_new(arrow_schema(cols), arrays).unwrap()
        })
        .collect()
}

proptest! {
    /// Rows appended to typed columns (as the CSV readers or as the JSON
    /// lines reader append them), some abandoned part way and rolled back,
    /// come out as the batches Arrow's builders make of the committed rows
    /// alone (unread columns NULL in both).
    #[test]
    fn typed_rows_batch_what_arrow_builders_batch(
        rows in proptest::collection::vec(
            ((value(0), value(1), value(2)), (value(3), value(4), value(5)), proptest::option::of(0usize..=6)),
            0..40,
        ),
        batch_size in 1usize..8,
        read in proptest::collection::vec(any::<bool>(), 6),
        native in any::<bool>(),
    ) {
        let cols = columns();
        let mut typed = TypedRows::new(&cols, batch_size);
        typed.read_only(&read);
        let (mut got, mut committed) = (Vec::new(), Vec::new());
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
                    push(typed.column(k), v, native);
                }
            }
            if abandon_at.is_some() {
                typed.rollback();
                continue;
            }
            got.extend(typed.commit());
            committed.push(row);
        }
        got.extend(typed.flush());
        prop_assert_eq!(got, reference(&cols, &read, &committed, batch_size));
    }
}
