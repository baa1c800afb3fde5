//! Partial aggregation before the exchange (EMIT FINAL, with or without a
//! TUMBLING window).
//!
//! Contract:
//! - [`PartialAgg::push`] folds rows — cut to the columns the query reads,
//!   [`crate::Plan::read`] — into this core's own groups (per window when
//!   windowed); nothing is emitted per row;
//! - [`PartialAgg::close_through`] takes out every window ending at or
//!   before the watermark `w`, its groups split by the core owning their keys
//!   ([`Route`]: a key always to the same core); [`PartialAgg::pieces`] then
//!   turns one core's share into partial-state batches (a sender can send
//!   each core its pieces, then its watermark, one core at a time), and
//!   [`PartialAgg::recycle`] takes the windows back. The closing core's own
//!   share can go whole to its merging aggregate instead
//!   ([`super::Pipeline::adopt`], after the other cores' pieces are built),
//!   which sends cleared group sets back with the [`Closed`]. A row arriving later
//!   for a closed window is late (counted, dropped) — the owner fires a
//!   window only after every sender's watermark passed it, so it always has
//!   every sender's partials by then;
//! - [`PartialAgg::close_all`] does so for every group (end of input, or when
//!   more than [`PartialAgg::MAX_GROUPS`] groups are held, so memory stays
//!   bounded: partials of one group may be sent several times and merge);
//!   [`PartialAgg::flush_through`] and [`PartialAgg::flush_all`] build every
//!   core's pieces at once;
//! - output batches: `[window_start]` (windowed only), the group keys, each
//!   group's row count, then each aggregate's partial columns (see
//!   [`crate::state::Acc::partial`]);
//!   the owning core merges them with `GroupBy`/`Tumbling` built by
//!   [`super::PipelineOptions::partial_input`].

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{Field, Schema};

use super::eval_all;
use super::group_by::{eval_args, Groups};
use super::windows::{window_starts, Starts, Windows};
use crate::error::Result;
use crate::gather::Pool;
use crate::plan::{AggPlan, Emit, Plan, Stage};
use crate::state::KeepMask;

/// Where partial states go: core `owner(hash)` of `cores`, for a key's
/// routing hash ([`crate::state::hash_keys`]). Every sender must route
/// alike, so all partials of a key meet on one core, and on every call
/// alike: a window's table remembers its keys' owners for the windows it
/// serves after.
pub struct Route<'a> {
    pub cores: usize,
    pub owner: &'a dyn Fn(u64) -> usize,
}

impl Route<'static> {
    /// Everything to core 0.
    pub const ONE: Route<'static> = Route {
        cores: 1,
        owner: &|_| 0,
    };
}

/// Windows taken out of a [`PartialAgg`] (closed), each with its groups'
/// ids listed per owning core, until their pieces are built and they are
/// recycled. The core that closed them may instead hand a window's groups
/// whole to its own merging aggregate ([`super::Pipeline::adopt`], after every
/// other core's pieces are built), which then sends cleared group sets back
/// for reuse.
pub struct Closed {
    windows: Vec<(i64, Option<Groups>, Vec<Vec<u32>>)>,
    spares: Vec<Groups>,
    /// Whether the windows' groups keep their keys when recycled (not when
    /// every group was closed: at the end of input, or because too many
    /// were held, when kept keys would fill the tables again at once).
    keep_keys: bool,
}

impl Closed {
    fn new(keep_keys: bool) -> Self {
        Closed {
            windows: Vec::new(),
            spares: Vec::new(),
            keep_keys,
        }
    }

    /// Takes out every window's groups whole, with the ids of those core
    /// `core` owns: no pieces can be built from them afterwards.
    pub(crate) fn take_own(&mut self, core: usize) -> Vec<(i64, Groups, Vec<u32>)> {
        self.windows
            .iter_mut()
            .filter_map(|(start, groups, owned)| {
                let ids = owned.get_mut(core).map(std::mem::take).unwrap_or_default();
                groups.take().map(|g| (*start, g, ids))
            })
            .collect()
    }

    /// Cleared group sets for the [`PartialAgg`] to reuse.
    pub(crate) fn give_spares(&mut self, spares: Vec<Groups>) {
        self.spares.extend(spares);
    }
}

/// Groups key for an unwindowed aggregate's single "window".
const ALL: i64 = i64::MIN;

pub struct PartialAgg {
    plan: AggPlan,
    windows: Windows,
    /// Windows ending at or before this have been flushed.
    flushed: Option<i64>,
    late: u64,
}

impl PartialAgg {
    /// Above this many groups held, everything is flushed.
    pub const MAX_GROUPS: usize = 1 << 16;

    /// The aggregate to pre-aggregate, when the plan's emit mode allows it.
    pub fn for_plan(plan: &Plan) -> Option<Self> {
        match &plan.stage {
            Stage::Aggregate(a) if a.emit == Emit::Final => Some(PartialAgg {
                plan: a.clone(),
                windows: Windows::new(a),
                flushed: None,
                late: 0,
            }),
            _ => None,
        }
    }

    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let Some(win) = &self.plan.window else {
            let keys = eval_all(&self.plan.keys, batch)?;
            let args = eval_args(&self.plan.aggs, batch)?;
            self.windows.entry(ALL).update(&keys, &args, n);
            return Ok(());
        };
        let (times, nulls) = win.time.eval(batch)?;
        let size = win.size_ms;
        let (mut starts, least) = window_starts(&times, size);
        let open = |s: i64| self.flushed.is_none_or(|w| s.saturating_add(size) > w);
        let no_nulls = nulls.as_ref().is_none_or(|b| b.null_count() == 0);
        // Every row kept (no NULL time, every window still open: the common
        // case) without a verdict per row. A window is open when its start
        // is late enough, so the least start decides for all.
        let batch = if no_nulls && least.is_none_or(|(s, _)| open(s)) {
            batch.clone()
        } else {
            let mut keep = KeepMask::default();
            let mut kept = Vec::with_capacity(n);
            for (i, s) in starts.iter().enumerate() {
                let ok = nulls.as_ref().is_none_or(|b| b.is_valid(i)) && open(s);
                keep.push(i, ok);
                if ok {
                    kept.push(s);
                }
            }
            self.late += keep.dropped() as u64;
            starts = Starts::Each(kept);
            keep.filter(batch.clone())
        };
        if batch.num_rows() > 0 {
            let keys = eval_all(&self.plan.keys, &batch)?;
            let args = eval_args(&self.plan.aggs, &batch)?;
            self.windows.fold(&starts, &keys, &args);
        }
        Ok(())
    }

    /// Groups held (over all windows).
    pub fn groups(&self) -> usize {
        self.windows.groups()
    }

    pub fn is_full(&self) -> bool {
        self.groups() > Self::MAX_GROUPS
    }

    /// Closes every window that ends at or before `w` (a row arriving later
    /// for one is late), its groups split by owning core; see
    /// [`Self::pieces`].
    pub fn close_through(&mut self, w: i64, route: &Route<'_>) -> Closed {
        let mut closed = Closed::new(true);
        let Some(win) = &self.plan.window else {
            return closed;
        };
        let size = win.size_ms;
        self.flushed = Some(self.flushed.map_or(w, |f| f.max(w)));
        while let Some((start, mut groups)) = self.windows.pop_closed(size, w) {
            let owned = groups.owners(route);
            closed.windows.push((start, Some(groups), owned));
        }
        closed
    }

    /// Closes every group held (end of input, or [`Self::is_full`]).
    pub fn close_all(&mut self, route: &Route<'_>) -> Closed {
        let mut closed = Closed::new(false);
        for (start, mut groups) in self.windows.take_all() {
            if groups.len() > 0 {
                let owned = groups.owners(route);
                closed.windows.push((start, Some(groups), owned));
            } else {
                self.windows.recycle_keeping(groups, false);
            }
        }
        closed
    }

    /// The partials of `closed` that core `core` owns, a batch per window,
    /// their columns in vectors from `pool`.
    pub fn pieces(
        &self,
        closed: &Closed,
        core: usize,
        pool: &mut Pool,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for (start, groups, owned) in &closed.windows {
            let Some(ids) = owned.get(core).filter(|ids| !ids.is_empty()) else {
                continue;
            };
            let groups = groups
                .as_ref()
                .expect("pieces are built before their groups are taken out");
            // Only groups rows reached (a reused table keeps other keys).
            let ids = groups.live(ids.iter().copied());
            if ids.is_empty() {
                continue;
            }
            let partials = groups.partial(&ids, pool)?;
            out.push(self.partial_batch(*start, partials, pool));
        }
        Ok(out)
    }

    /// Takes back the groups of `closed` (and the spares it carries) for
    /// reuse.
    pub fn recycle(&mut self, closed: Closed) {
        self.windows.give_spares(closed.spares);
        for (_, groups, _) in closed.windows {
            if let Some(groups) = groups {
                self.windows.recycle_keeping(groups, closed.keep_keys);
            }
        }
    }

    /// Partials of every window that ends at or before `w`, as
    /// `(owning core, batch)` pieces, their columns in vectors from `pool`.
    pub fn flush_through(
        &mut self,
        w: i64,
        route: &Route<'_>,
        pool: &mut Pool,
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let closed = self.close_through(w, route);
        self.all_pieces(closed, route, pool)
    }

    /// Partials of every group held, as `(owning core, batch)` pieces.
    pub fn flush_all(
        &mut self,
        route: &Route<'_>,
        pool: &mut Pool,
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let closed = self.close_all(route);
        self.all_pieces(closed, route, pool)
    }

    fn all_pieces(
        &mut self,
        closed: Closed,
        route: &Route<'_>,
        pool: &mut Pool,
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let mut out = Vec::new();
        for core in 0..route.cores.max(1) {
            let pieces = self.pieces(&closed, core, pool)?;
            out.extend(pieces.into_iter().map(|b| (core, b)));
        }
        self.recycle(closed);
        Ok(out)
    }

    /// One window's partial columns as a batch (the window start first when
    /// windowed).
    fn partial_batch(&self, start: i64, partials: Vec<ArrayRef>, pool: &mut Pool) -> RecordBatch {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(partials.len() + 1);
        if self.plan.window.is_some() {
            let n = partials[0].len();
            let mut starts = Pool::take(&mut pool.i64s, n);
            starts.resize(n, start);
            cols.push(Arc::new(TimestampMillisecondArray::new(
                starts.into(),
                None,
            )));
        }
        cols.extend(partials);
        let fields: Vec<Field> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("p{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("partial schema")
    }

    /// Rows dropped because their window had already been flushed.
    pub fn late_rows(&self) -> u64 {
        self.late
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::csv::CsvReader;
    use crate::codec::OnError;
    use crate::ops::testing::rows_text;
    use crate::ops::{Pipeline, PipelineOptions};

    const DDL: &str = "CREATE STREAM t (k VARCHAR, ts BIGINT, v DECIMAL(10,2), d DOUBLE) \
                       WITH (lateness = '5ms', event_time = 'ts');";

    fn rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut out = rows_text(batches);
        out.sort();
        out
    }

    /// The rows of `csv` (a header, then `t`'s columns) as batches of at
    /// most `size` rows.
    fn read(plan: &Plan, csv: &str, size: usize) -> Vec<RecordBatch> {
        let mut r = CsvReader::new(
            "t.csv",
            csv.as_bytes(),
            &plan.source.columns,
            size,
            OnError::Fail,
        )
        .unwrap();
        std::iter::from_fn(|| r.next_batch().unwrap()).collect()
    }

    /// `SELECT k, COUNT(*)` per 10-ms tumbling window.
    fn windowed_count() -> Plan {
        crate::sql::compile(&format!(
            "{DDL} SELECT k, COUNT(*) AS n FROM t GROUP BY k \
             WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
        ))
        .unwrap()
    }

    /// The plan of `sql`, `parts` pre-aggregating senders fed the batches
    /// of `csv` in turn, and what one plain pipeline outputs for them.
    fn fed_senders(
        sql: &str,
        csv: &str,
        parts: usize,
    ) -> (Plan, Vec<PartialAgg>, Vec<RecordBatch>) {
        let plan = crate::sql::compile(sql).unwrap();
        let batches = read(&plan, csv, 1);
        let mut direct = Pipeline::new(&plan);
        let mut want = Vec::new();
        for b in &batches {
            want.extend(direct.push(b.clone()).unwrap());
        }
        want.extend(direct.finish().unwrap());
        let mut senders: Vec<PartialAgg> = (0..parts)
            .map(|_| PartialAgg::for_plan(&plan).unwrap())
            .collect();
        for (i, b) in batches.iter().enumerate() {
            senders[i % parts].push(&plan.read(b)).unwrap();
        }
        (plan, senders, want)
    }

    /// Splits the input over `parts` pre-aggregating senders, flushing at a
    /// watermark and at the end, and merges the pieces in `mergers`
    /// pipelines, each piece in the one owning its keys.
    fn split_and_merge(
        sql: &str,
        csv: &str,
        parts: usize,
        mergers: usize,
    ) -> (Vec<String>, Vec<String>) {
        let (plan, mut senders, want) = fed_senders(sql, csv, parts);
        let mut merge: Vec<Pipeline> = (0..mergers)
            .map(|_| {
                Pipeline::with_options(
                    &plan,
                    PipelineOptions {
                        external_watermark: true,
                        partial_input: true,
                        ..PipelineOptions::default()
                    },
                )
            })
            .collect();
        // Everything before the watermark 10 first, then the rest, each
        // piece to the merger owning its keys.
        let route = Route {
            cores: mergers,
            owner: &|h| (h % mergers as u64) as usize,
        };
        // A key's partials split over two mergers would give two rows.
        let mut got = Vec::new();
        let deliver = |pieces: Vec<(usize, RecordBatch)>,
                       merge: &mut Vec<Pipeline>,
                       got: &mut Vec<RecordBatch>| {
            for (m, p) in pieces {
                got.extend(merge[m].push(p).unwrap());
            }
        };
        for s in &mut senders {
            let pieces = s.flush_through(10, &route, &mut Pool::default()).unwrap();
            deliver(pieces, &mut merge, &mut got);
        }
        for m in &mut merge {
            got.extend(m.on_watermark(10).unwrap());
        }
        for s in &mut senders {
            let pieces = s.flush_all(&route, &mut Pool::default()).unwrap();
            deliver(pieces, &mut merge, &mut got);
        }
        for m in &mut merge {
            got.extend(m.finish().unwrap());
        }
        (rows(&got), rows(&want))
    }

    /// As [`split_and_merge`] with one merger per sender (core `i` both):
    /// at the watermark each core sends the other cores their pieces and
    /// its merger adopts its own groups whole. `early`: every merger first
    /// marks its own windows through the watermark closed with nothing to
    /// adopt, so pieces merge as they come and the adoption then finds its
    /// windows open (and merges its owned groups as a piece would).
    fn split_and_adopt(
        sql: &str,
        csv: &str,
        parts: usize,
        early: bool,
    ) -> (Vec<String>, Vec<String>) {
        let (plan, mut senders, want) = fed_senders(sql, csv, parts);
        let opt = PipelineOptions {
            external_watermark: true,
            partial_input: true,
            own_partials: true,
            ..PipelineOptions::default()
        };
        let mut merge: Vec<Pipeline> = (0..parts)
            .map(|_| Pipeline::with_options(&plan, opt))
            .collect();
        let route = Route {
            cores: parts,
            owner: &|h| (h % parts as u64) as usize,
        };
        let mut got = Vec::new();
        if early {
            for m in &mut merge {
                let mut none = PartialAgg::for_plan(&plan)
                    .unwrap()
                    .close_through(10, &route);
                assert!(m.adopt(10, &mut none, 0).unwrap());
            }
        }
        // The last core first: pieces for windows a merger has not closed
        // itself wait for its own groups.
        for i in (0..parts).rev() {
            let mut closed = senders[i].close_through(10, &route);
            for d in (0..parts).filter(|&d| d != i) {
                for b in senders[i].pieces(&closed, d, &mut Pool::default()).unwrap() {
                    got.extend(merge[d].push(b).unwrap());
                }
            }
            assert!(merge[i].adopt(10, &mut closed, i).unwrap());
            senders[i].recycle(closed);
        }
        for m in &mut merge {
            got.extend(m.on_watermark(10).unwrap());
        }
        for s in &mut senders {
            for (d, b) in s.flush_all(&route, &mut Pool::default()).unwrap() {
                got.extend(merge[d].push(b).unwrap());
            }
        }
        for m in &mut merge {
            got.extend(m.finish().unwrap());
        }
        (rows(&got), rows(&want))
    }

    #[test]
    fn adopted_partials_equal_one_aggregate() {
        let mut csv = String::from("k,ts,v,d\n");
        for i in 0..300u32 {
            let k = (i * 7919) % 41;
            csv += &format!("k{k},{},{}.{:02},{}\n", i / 12, i % 89, i % 100, i % 11);
        }
        let sql = format!(
            "{DDL} SELECT k, COUNT(*) AS n, SUM(v) AS s, AVG(v) AS a, MAX(d) AS m FROM t GROUP BY k \
             WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
        );
        for parts in [1, 2, 3] {
            for early in [false, true] {
                let (got, want) = split_and_adopt(&sql, &csv, parts, early);
                assert_eq!(got, want, "parts {parts}, early {early}");
                assert!(got.len() > 41, "{}", got.len());
            }
        }
    }

    #[test]
    fn reused_tables_emit_a_window_s_groups_and_only_those() {
        // Twelve keys in window 0 on both cores; from then on core 0's rows
        // bring only the first seven (its reused table still holds the other
        // five, no row of theirs in the window), core 1's every key but one.
        // Each window is fed, then closed as the runtime closes it: every
        // core sends its pieces and adopts its own groups whole, and group
        // tables go round for later windows with their keys.
        let keys = |n: usize| (0..n).map(|k| format!("k{k}"));
        let mut per_window: Vec<Vec<(usize, String)>> =
            vec![keys(12).flat_map(|k| [(0, k.clone()), (1, k)]).collect()];
        for w in 1..6 {
            let mut rows: Vec<(usize, String)> = keys(7).map(|k| (0, k)).collect();
            rows.extend(
                keys(12)
                    .filter(|k| *k != format!("k{}", w + 6))
                    .map(|k| (1, k)),
            );
            per_window.push(rows);
        }
        let sql = format!(
            "{DDL} SELECT k, COUNT(*) AS n, SUM(v) AS s, MAX(d) AS m FROM t GROUP BY k \
             WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
        );
        let plan = crate::sql::compile(&sql).unwrap();
        let batch = |k: &str, ts: usize| {
            let csv = format!("k,ts,v,d\n{k},{ts},{}.25,{}\n", ts % 7, ts % 5);
            read(&plan, &csv, 1).remove(0)
        };
        let opt = PipelineOptions {
            external_watermark: true,
            partial_input: true,
            own_partials: true,
            ..PipelineOptions::default()
        };
        let mut direct = Pipeline::new(&plan);
        let mut senders: Vec<PartialAgg> = (0..2)
            .map(|_| PartialAgg::for_plan(&plan).unwrap())
            .collect();
        let mut merge: Vec<Pipeline> = (0..2).map(|_| Pipeline::with_options(&plan, opt)).collect();
        let route = Route {
            cores: 2,
            owner: &|h| (h % 2) as usize,
        };
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for (w, rows) in per_window.iter().enumerate() {
            for (i, (core, k)) in rows.iter().enumerate() {
                let b = batch(k, w * 10 + i % 10);
                want.extend(direct.push(b.clone()).unwrap());
                senders[*core].push(&plan.read(&b)).unwrap();
            }
            let end = (w as i64 + 1) * 10;
            for i in 0..2 {
                let mut closed = senders[i].close_through(end, &route);
                for b in senders[i]
                    .pieces(&closed, 1 - i, &mut Pool::default())
                    .unwrap()
                {
                    got.extend(merge[1 - i].push(b).unwrap());
                }
                assert!(merge[i].adopt(end, &mut closed, i).unwrap());
                senders[i].recycle(closed);
            }
            for m in &mut merge {
                got.extend(m.on_watermark(end).unwrap());
            }
        }
        want.extend(direct.finish().unwrap());
        for m in &mut merge {
            got.extend(m.finish().unwrap());
        }
        assert_eq!(rows(&got), rows(&want));
        assert_eq!(
            got.iter().map(RecordBatch::num_rows).sum::<usize>(),
            12 + 5 * 11
        );
    }

    #[test]
    fn a_window_s_table_keeps_its_keys_for_a_later_window_unless_it_holds_too_many() {
        let plan = windowed_count();
        let few = 10;
        let many = crate::ops::windows::KEEP_KEYS + 1;
        for (keys, kept) in [(few, true), (many, false)] {
            // Window 0 holds `keys` keys; it closes and its table goes back;
            // then window 1's one row of k0 opens a window on that table.
            let mut csv = String::from("k,ts,v,d\n");
            for i in 0..keys {
                csv += &format!("k{i},1,1.00,1\n");
            }
            let mut p = PartialAgg::for_plan(&plan).unwrap();
            for b in read(&plan, &csv, 4096) {
                p.push(&plan.read(&b)).unwrap();
            }
            let closed = p.close_through(10, &Route::ONE);
            p.recycle(closed);
            for b in read(&plan, "k,ts,v,d\nk0,12,1.00,1\n", 4096) {
                p.push(&plan.read(&b)).unwrap();
            }
            assert_eq!(p.groups(), if kept { keys } else { 1 }, "{keys} keys");
            // Either way window 1's partials are its one group.
            let flushed = p.flush_all(&Route::ONE, &mut Pool::default()).unwrap();
            let got: Vec<RecordBatch> = flushed.into_iter().map(|(_, b)| b).collect();
            assert_eq!(
                rows(&got),
                vec!["1970-01-01T00:00:00.010Z|k0|1"],
                "{keys} keys"
            );
        }
    }

    #[test]
    fn a_kept_table_routes_its_old_and_new_keys_to_their_owners() {
        // Each window's pieces for a core hold exactly the keys its rows
        // reached that the route gives that core: window 1 reuses window
        // 0's table (its keys kept, their owners found once) and adds keys.
        let plan = windowed_count();
        let route = Route {
            cores: 2,
            owner: &|h| (h >> 7) as usize % 2,
        };
        let owner = |k: &str| {
            let col: ArrayRef = Arc::new(arrow_array::StringArray::from(vec![k]));
            let mut h = Vec::new();
            crate::state::hash_keys(&[col], &[crate::SqlType::Varchar], 1, &mut h);
            (route.owner)(h[0])
        };
        let mut p = PartialAgg::for_plan(&plan).unwrap();
        let keys = |r: std::ops::Range<i32>| r.map(|i| format!("k{i}")).collect::<Vec<_>>();
        let windows: [(i64, Vec<String>); 6] = [
            (1, keys(0..8)),
            // Half the old keys (still kept: half had rows) and new ones.
            (11, keys(4..20)),
            (21, keys(0..20)),
            // Too few of the kept keys: the table is cleared, and its ids
            // go to other keys.
            (31, keys(100..103)),
            (41, keys(200..240)),
            (51, keys(300..340)),
        ];
        for (ts, keys) in windows {
            let mut csv = String::from("k,ts,v,d\n");
            for k in &keys {
                csv += &format!("{k},{ts},1.00,1\n");
            }
            for b in read(&plan, &csv, 64) {
                p.push(&plan.read(&b)).unwrap();
            }
            let closed = p.close_through(ts + 9, &route);
            for core in 0..2 {
                let pieces = p.pieces(&closed, core, &mut Pool::default()).unwrap();
                let mut got: Vec<String> = pieces
                    .iter()
                    .flat_map(|b| {
                        use arrow_array::cast::AsArray;
                        let k = b.column(1).as_string::<i32>().clone();
                        k.iter().map(|k| k.unwrap().to_string()).collect::<Vec<_>>()
                    })
                    .collect();
                got.sort();
                let mut want: Vec<String> =
                    keys.iter().filter(|k| owner(k) == core).cloned().collect();
                want.sort();
                assert_eq!(got, want, "window at {ts}, core {core}");
            }
            p.recycle(closed);
        }
    }

    const CSV: &str = "k,ts,v,d\na,1,1.50,0.5\nb,2,,\na,3,-2.25,1.5\nc,4,7.00,\na,12,3.10,2\nb,13,0.01,4\nc,25,,\n";

    #[test]
    fn merged_partials_equal_one_aggregate() {
        let aggs = "COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS s, AVG(v) AS a, MIN(v) AS lo, \
                    MAX(k) AS hi, SUM(d) AS sd, MIN(d) AS md";
        for (parts, mergers) in [(1, 1), (2, 1), (3, 1), (1, 2), (2, 3), (3, 2)] {
            let (got, want) = split_and_merge(
                &format!("{DDL} SELECT k, {aggs} FROM t GROUP BY k EMIT FINAL"),
                CSV,
                parts,
                mergers,
            );
            assert_eq!(got, want);
            assert_eq!(got.len(), 3);
            let (got, want) = split_and_merge(
                &format!(
                    "{DDL} SELECT k, {aggs} FROM t GROUP BY k \
                     WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
                ),
                CSV,
                parts,
                mergers,
            );
            assert_eq!(got, want);
            assert_eq!(got.len(), 6);
        }
    }

    #[test]
    fn many_keys_each_merge_on_the_core_that_owns_them() {
        // Enough keys that every merger owns several, interleaved with the
        // others' in order of first appearance.
        let mut csv = String::from("k,ts,v,d\n");
        for i in 0..400u32 {
            let k = (i * 7919) % 53;
            csv += &format!("k{k},{},{}.{:02},{}\n", i / 10, i % 97, i % 100, i % 13);
        }
        for mergers in [2, 3, 5] {
            let (got, want) = split_and_merge(
                &format!(
                    "{DDL} SELECT k, COUNT(*) AS n, SUM(v) AS s, MAX(d) AS m FROM t GROUP BY k \
                     WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
                ),
                &csv,
                3,
                mergers,
            );
            assert_eq!(got, want);
            assert!(got.len() > 53, "{}", got.len());
        }
    }

    /// A merger that fired a window counts the groups of a piece for it
    /// arriving after as late, and still merges the later window's piece
    /// (between cores that flush before their watermark passes this cannot
    /// happen; the check guards the merge).
    #[test]
    fn a_piece_for_a_window_the_merger_fired_counts_its_groups_as_late() {
        let plan = windowed_count();
        let batches = read(&plan, "k,ts,v,d\na,1,,\nb,2,,\na,11,,\na,12,,\n", 4);
        let mut p = PartialAgg::for_plan(&plan).unwrap();
        p.push(&plan.read(&batches[0])).unwrap();
        let pieces = p.flush_all(&Route::ONE, &mut Pool::default()).unwrap();
        let opt = PipelineOptions {
            external_watermark: true,
            partial_input: true,
            ..PipelineOptions::default()
        };
        let mut merge = Pipeline::with_options(&plan, opt);
        // Window [0, 10) fires empty before the pieces come.
        assert!(merge.on_watermark(10).unwrap().is_empty());
        let mut got = Vec::new();
        for (_, b) in pieces {
            got.extend(merge.push(b).unwrap());
        }
        got.extend(merge.finish().unwrap());
        assert_eq!(merge.stats().late_rows, 2, "a and b of window 0");
        assert_eq!(
            rows(&got),
            vec!["1970-01-01T00:00:00.010Z|1970-01-01T00:00:00.020Z|a|2"]
        );
    }

    #[test]
    fn a_row_for_a_flushed_window_is_late() {
        let plan = windowed_count();
        let mut batches = read(&plan, "k,ts,v,d\na,1,,\na,11,,\na,2,,\n", 1).into_iter();
        let mut p = PartialAgg::for_plan(&plan).unwrap();
        p.push(&plan.read(&batches.next().unwrap())).unwrap();
        p.push(&plan.read(&batches.next().unwrap())).unwrap();
        let flushed: Vec<RecordBatch> = p
            .flush_through(10, &Route::ONE, &mut Pool::default())
            .unwrap()
            .into_iter()
            .map(|(core, b)| {
                assert_eq!(core, 0);
                b
            })
            .collect();
        assert_eq!(rows(&flushed), vec!["1970-01-01T00:00:00.000Z|a|1"]);
        p.push(&plan.read(&batches.next().unwrap())).unwrap();
        assert_eq!(p.late_rows(), 1);
        assert_eq!(p.groups(), 1);
    }
}
