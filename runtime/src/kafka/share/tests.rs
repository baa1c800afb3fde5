use super::ReadUpTo;

#[test]
fn offsets_read_again_are_refused_per_partition() {
    let mut r = ReadUpTo::default();
    let mut got = Vec::new();
    // Partition 0 reads 0..5, goes back to 2 and reads on to 7;
    // partition 1, interleaved, starts high and repeats its first.
    for (p, o) in [
        (0, 0),
        (0, 1),
        (1, 40),
        (0, 2),
        (0, 3),
        (1, 40),
        (0, 4),
        (0, 2),
        (0, 3),
        (0, 4),
        (0, 5),
        (1, 41),
        (0, 6),
    ] {
        if r.first_read(p, o) {
            got.push((p, o));
        }
    }
    assert_eq!(
        got,
        [
            (0, 0),
            (0, 1),
            (1, 40),
            (0, 2),
            (0, 3),
            (0, 4),
            (0, 5),
            (1, 41),
            (0, 6)
        ]
    );
}
