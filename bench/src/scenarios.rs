//! The five benchmark scenarios (the queries of `examples/scenarios/`) and
//! the data each reads.

use percore_operators::codec::generator::Dataset;

pub struct Scenario {
    /// The name in reports: select, rows_window, group_by, tumbling, emit_changes.
    pub name: &'static str,
    pub sql: &'static str,
    pub dataset: Dataset,
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "select",
        sql: include_str!("../../examples/scenarios/s0_select.sql"),
        dataset: Dataset::Orders,
    },
    Scenario {
        name: "rows_window",
        sql: include_str!("../../examples/scenarios/s1_rows_window.sql"),
        dataset: Dataset::MarketData,
    },
    Scenario {
        name: "group_by",
        sql: include_str!("../../examples/scenarios/s2_group_by_final.sql"),
        dataset: Dataset::MarketData,
    },
    Scenario {
        name: "tumbling",
        sql: include_str!("../../examples/scenarios/s3a_tumbling.sql"),
        dataset: Dataset::MarketData,
    },
    Scenario {
        name: "emit_changes",
        sql: include_str!("../../examples/scenarios/s3b_emit_changes.sql"),
        dataset: Dataset::MarketData,
    },
];

pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}
