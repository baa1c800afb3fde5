use super::super::OrderRow;
use super::orders::{draw_orders_any, OrderDraws};
use super::*;

/// A batch of native rows is row by row what `market_row` gives, and
/// the draws compiled for this CPU (AVX-512 where it has it) equal the
/// portable loop's.
#[test]
fn batched_native_rows_and_draws_agree_with_row_by_row() {
    for (first, len, stride) in [(0, 1, 1), (3, 1_001, 3), (1 << 40, 77, 1), (5, 8_192, 2)] {
        let g = Generator::market_data(11, 0, 1);
        let rows = RowIds { first, stride, len };
        // Drawn into draws that held another batch before.
        let mut a = MarketDraws::default();
        g.draw_market(
            RowIds {
                first: 9,
                stride: 1,
                len: 100,
            },
            &mut a,
        );
        g.draw_market(rows, &mut a);
        let got: Vec<MarketRow> = a.rows().collect();
        let want: Vec<MarketRow> = rows.iter().map(|i| g.market_row(i)).collect();
        assert_eq!(got, want);
        let mut b = MarketDraws::with_capacity(len);
        let c = g.config;
        draw_market_any::<true>(
            g.seed,
            c.symbols as u64,
            c.traders as u64,
            g.spread,
            &g.bases,
            rows,
            &mut b,
        );
        assert_eq!(a.symbols, b.symbols);
        assert_eq!(a.traders, b.traders);
        assert_eq!(a.quantities, b.quantities);
        assert_eq!(a.prices, b.prices);
        assert_eq!(a.lags_ts, b.lags_ts);
        assert_eq!(a.lags_tt, b.lags_tt);
        // Without the lags: the other fields the same, no lags drawn.
        let mut c = MarketDraws::default();
        g.draw_fields(rows, &mut c, false);
        assert_eq!(
            (&a.symbols, &a.traders, &a.quantities, &a.prices),
            (&c.symbols, &c.traders, &c.quantities, &c.prices)
        );
        assert!(c.lags_ts.is_empty() && c.lags_tt.is_empty());
    }
}

#[test]
fn short_strings_match_a_plain_string_column() {
    let names: Vec<String> = ["", "A", "ABCD", "2024-01-15", "ABCDEFGHIJKLMNOP", "é"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let keys = [0u32, 5, 1, 4, 2, 3, 3, 0, 4];
    let want = StringArray::from_iter_values(keys.iter().map(|&k| &names[k as usize]));
    assert_eq!(short_strings(&names, &keys), want);
    let long = vec!["x".repeat(17), "y".to_string()];
    let want = StringArray::from_iter_values(["y", &long[0]]);
    assert_eq!(short_strings(&long, &[1, 0]), want);
}

/// Drawn orders are row by row what `order_row` gives, and the draws
/// compiled for this CPU equal the portable loop's.
#[test]
fn batched_orders_agree_with_row_by_row() {
    for (first, len, stride) in [(0, 1, 1), (3, 1_001, 3), (1 << 40, 77, 1), (5, 8_192, 2)] {
        let g = Generator::orders(11, 0, 1);
        let rows = RowIds { first, stride, len };
        // Drawn into draws that held another batch before.
        let mut a = OrderDraws::default();
        g.draw_orders(
            RowIds {
                first: 9,
                stride: 1,
                len: 100,
            },
            &mut a,
        );
        g.draw_orders(rows, &mut a);
        let got: Vec<OrderRow> = a.rows().collect();
        let want: Vec<OrderRow> = rows.iter().map(|i| g.order_row(i)).collect();
        assert_eq!(got, want);
        let mut b = OrderDraws::default();
        draw_orders_any(g.seed, rows, &mut b);
        let portable: Vec<OrderRow> = b.rows().collect();
        assert_eq!(portable, want);
    }
}
