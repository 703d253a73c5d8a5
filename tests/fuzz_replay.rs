//! Every input the fuzzing campaign kept (`fuzz/regressions/TARGET/*.bin`) replayed through its
//! target: none may panic or break an invariant again.

use std::panic::{self, AssertUnwindSafe};

use rowferry::fuzzing::TARGETS;

#[test]
fn every_kept_fuzzing_input_passes_its_target() {
    let root = crate::util::repo().join("fuzz/regressions");
    let mut replayed = 0;
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        {
            let input = std::fs::read(path).unwrap();
            replayed += 1;
            match panic::catch_unwind(AssertUnwindSafe(|| target(&input))) {
                Ok(Ok(())) => {}
                Ok(Err(broken)) => failures.push(format!("{}: {broken}", path.display())),
                Err(_) => failures.push(format!("{}: panicked", path.display())),
            }
        }
    }
    assert!(replayed >= 5, "the regression inputs are there: {replayed}");
    assert!(failures.is_empty(), "{failures:#?}");
}
