//! Targets spread over the writer threads, and the open-file cap divided between them.

use crate::plan::{Binding, Format, Plan};

/// The targets one writer thread owns, in mapping order, and how many files it may keep open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub targets: Vec<usize>,
    pub max_open: usize,
}

/// Splits the targets of `plan` among at most `writers` writer threads, so that the files of
/// different targets are encoded, hashed and written in parallel. Each target belongs to one
/// writer for the whole run, so its rows stay in input order. Targets are balanced by their
/// output columns (JSON twice: keys are written too; XLSX eight times: cells go through a spill
/// file and a workbook), and `[run] max_open_files` is divided so that the writers together never
/// hold more: a writer without `{field}` partitions needs one open file per target, the rest go
/// to the writers that have partitions. Below two files per writer, one writer does it all.
/// A database target (SQLite or PostgreSQL) is loaded by the load stage, not by a writer: it is
/// in no share.
pub fn shares(plan: &Plan, binding: &Binding, writers: usize) -> Vec<Share> {
    let cap = plan.run.max_open_files.max(1);
    let files: Vec<usize> = (0..plan.targets.len())
        .filter(|&ti| !plan.targets[ti].is_loaded())
        .collect();
    if files.is_empty() {
        return Vec::new();
    }
    let n = writers.min(files.len()).min(cap / 2).max(1);
    if n == 1 {
        return vec![Share {
            targets: files,
            max_open: cap,
        }];
    }
    let weight: Vec<usize> = plan
        .targets
        .iter()
        .map(|t| {
            let columns = crate::project::output_columns(t, binding).0.len().max(1);
            columns
                * match t.format {
                    Format::Csv | Format::Tsv => 1,
                    Format::Json | Format::Ndjson | Format::Sqlite | Format::Postgres => 2,
                    Format::Xlsx => 8,
                }
        })
        .collect();
    let units: Vec<Vec<usize>> = files.iter().map(|&ti| vec![ti]).collect();
    let unit_weight: Vec<usize> = units
        .iter()
        .map(|u| u.iter().map(|&ti| weight[ti]).sum())
        .collect();
    let mut order: Vec<usize> = (0..units.len()).collect();
    // Heaviest first, each to the least loaded writer; ties by mapping order.
    order.sort_by_key(|&u| std::cmp::Reverse(unit_weight[u]));
    let mut load = vec![0usize; n];
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); n];
    for u in order {
        let k = (0..n).min_by_key(|&k| (load[k], k)).unwrap_or(0);
        load[k] += unit_weight[u];
        owned[k].extend(&units[u]);
    }
    owned.retain(|o| !o.is_empty());
    for o in &mut owned {
        o.sort_unstable();
    }
    let partitioned: Vec<bool> = owned
        .iter()
        .map(|o| {
            o.iter()
                .any(|&ti| plan.targets[ti].path.fields().count() > 0)
        })
        .collect();
    let even = cap / owned.len();
    let mut max_open: Vec<usize> = owned
        .iter()
        .zip(&partitioned)
        .map(|(o, &p)| if p { 0 } else { o.len().min(even) })
        .collect();
    let mut rest = cap - max_open.iter().sum::<usize>();
    let mut left = partitioned.iter().filter(|p| **p).count();
    for (open, &p) in max_open.iter_mut().zip(&partitioned) {
        if p {
            *open = rest / left;
            rest -= *open;
            left -= 1;
        }
    }
    owned
        .into_iter()
        .zip(max_open)
        .map(|(targets, max_open)| Share {
            targets,
            max_open: max_open.max(1),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Share, shares};

    /// The shares of the targets of a mapping whose source has columns `id`, `name`, `city`.
    fn shares_of(targets: &str, max_open: usize, writers: usize) -> Vec<Share> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mapping = dir.path().join("m.toml");
        std::fs::write(
            &mapping,
            format!(
                "[source]\npath = \"in.csv\"\n\n[run]\nmax_open_files = {max_open}\n\n{targets}"
            ),
        )
        .expect("write the mapping");
        let plan = crate::plan::load(&mapping, None, &[]).expect("a valid mapping");
        let header = ["id", "name", "city"].map(String::from);
        let binding = crate::plan::bind(&plan, Some(&header)).expect("bound");
        shares(&plan, &binding, writers)
    }

    const FOUR: &str = r#"
[targets.all]
path = "all.csv"

[targets.ids]
path = "ids.csv"
columns.id = "id"

[targets.by_city]
path = "cities/{city}.csv"
columns.id = "id"

[targets.api]
path = "api/{batch}.json"
batch_size = 10
columns."a.id" = "id"
columns."a.name" = "name"
"#;

    #[test]
    fn targets_are_shared_among_writers_within_the_open_file_cap() {
        let split = shares_of(FOUR, 64, 2);
        assert_eq!(split.len(), 2, "{split:?}");
        let mut owned: Vec<usize> = split.iter().flat_map(|s| s.targets.clone()).collect();
        owned.sort_unstable();
        assert_eq!(
            owned,
            [0, 1, 2, 3],
            "each target belongs to exactly one writer"
        );
        for s in &split {
            assert!(s.targets.is_sorted(), "{s:?}");
        }
        // Heaviest first to the least loaded writer: the JSON target (two columns written with
        // their keys, 4), then `all` (three columns), `ids` beside it, `by_city` on the tie.
        assert_eq!(split[0].targets, [2, 3], "{split:?}");
        assert_eq!(split[1].targets, [0, 1], "{split:?}");
        // A writer without partitions keeps a file per target open; the writer with the
        // partitioned target gets every other file.
        assert_eq!(split[1].max_open, 2, "{split:?}");
        assert_eq!(split[0].max_open, 62, "{split:?}");
        // Never more writers than targets, or than half the cap; one writer keeps the cap.
        assert_eq!(shares_of(FOUR, 64, 8).len(), 4);
        for (cap, writers) in [(3, 2), (64, 1)] {
            assert_eq!(
                shares_of(FOUR, cap, writers),
                [Share {
                    targets: vec![0, 1, 2, 3],
                    max_open: cap
                }]
            );
        }
        for cap in 4..40 {
            let split = shares_of(FOUR, cap, 4);
            let open: usize = split.iter().map(|s| s.max_open).sum();
            assert!(open <= cap, "cap {cap}: {split:?}");
            assert!(
                split.iter().all(|s| s.max_open >= 1),
                "cap {cap}: {split:?}"
            );
        }
    }
}
