//! A window's group table reused for later windows: what it emits, which
//! keys it keeps, and where a kept table routes them.

use super::*;

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
            rows(&decoded(&plan, &got)),
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
            let mut got: Vec<String> = decoded(&plan, &pieces)
                .iter()
                .flat_map(|b| {
                    use arrow_array::cast::AsArray;
                    let k = b.column(1).as_string::<i32>().clone();
                    k.iter().map(|k| k.unwrap().to_string()).collect::<Vec<_>>()
                })
                .collect();
            got.sort();
            let mut want: Vec<String> = keys.iter().filter(|k| owner(k) == core).cloned().collect();
            want.sort();
            assert_eq!(got, want, "window at {ts}, core {core}");
        }
        p.recycle(closed);
    }
}
