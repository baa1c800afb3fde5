//! The five benchmark scenarios, embedded so `percore run --scenario NAME`
//! works anywhere. The files live in `examples/scenarios/`.

pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "s0_select",
        include_str!("../../examples/scenarios/s0_select.sql"),
    ),
    (
        "s1_rows_window",
        include_str!("../../examples/scenarios/s1_rows_window.sql"),
    ),
    (
        "s1_rows_window_std",
        include_str!("../../examples/scenarios/s1_rows_window_std.sql"),
    ),
    (
        "s2_group_by",
        include_str!("../../examples/scenarios/s2_group_by.sql"),
    ),
    (
        "s2_group_by_final",
        include_str!("../../examples/scenarios/s2_group_by_final.sql"),
    ),
    (
        "s3a_tumbling",
        include_str!("../../examples/scenarios/s3a_tumbling.sql"),
    ),
    (
        "s3a_tumbling_std",
        include_str!("../../examples/scenarios/s3a_tumbling_std.sql"),
    ),
    (
        "s3b_emit_changes",
        include_str!("../../examples/scenarios/s3b_emit_changes.sql"),
    ),
];

/// The scenario run when `percore run` is given no query.
pub const DEFAULT: &str = "s3a_tumbling";

pub fn find(name: &str) -> Option<&'static str> {
    let name = name.trim_end_matches(".sql");
    SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sql)| *sql)
}
