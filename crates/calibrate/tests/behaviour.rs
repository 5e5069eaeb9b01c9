//! Calibration on synthetic logs of known structure, awkward logs, and the report files.

mod common;

use common::{record, shadow_error, synthetic, write_log};
use titlesim_calibrate::{
    calibrate, calibrate_logs, render_text, to_json, write_report, CalibrateError, FontChoice,
    Grid, Options, ReportOptions, Threshold,
};

#[test]
fn synthetic_log_recovers_its_structure() {
    // shadow = 0.8 c + 0.2 + noise: the shadow threshold equivalent to T = 0.70 is 0.76.
    let recs = synthetic(42, 3000, 1000, 0.8, 0.2);
    let cal = calibrate(&recs, &Options::default()).unwrap();
    let race = cal.phases.iter().find(|p| p.name == "race").unwrap();
    let qual = cal.phases.iter().find(|p| p.name == "qualifying").unwrap();
    assert_eq!((race.n, qual.n), (3000, 1000));
    // r = 0.8*0.1 / sqrt((0.8*0.1)^2 + noise^2): 0.936 (race), 0.800 (qualifying)
    let (rr, rq) = (race.pearson.clone().unwrap(), qual.pearson.clone().unwrap());
    assert!((rr - 0.936).abs() < 0.02, "race r {rr}");
    assert!((rq - 0.800).abs() < 0.03, "qualifying r {rq}");
    let best = |p: &titlesim_calibrate::PhaseStats| p.best.as_ref().unwrap().0.value;
    assert!(
        (best(race) - 0.76).abs() <= 0.015,
        "race best {}",
        best(race)
    );
    assert!(
        (best(qual) - 0.76).abs() <= 0.03,
        "qualifying best {}",
        best(qual)
    );
    let c = cal.compromise.as_ref().unwrap();
    assert!(
        (c.threshold.value - 0.76).abs() <= 0.02,
        "compromise {}",
        c.threshold
    );
    assert_eq!(c.per_phase.len(), 2);
    let (lo, hi) = c
        .feasible
        .as_ref()
        .expect("some t keeps both phases above 78%");
    assert!(lo.value <= c.threshold.value && c.threshold.value <= hi.value);
    // the compromise's minimum is never below either phase's agreement at that t
    for (_, s) in &c.per_phase {
        assert!(s.cmp_exact(&c.min_agreement) != std::cmp::Ordering::Less);
    }
    // the configured 0.95 is far in the shadow tail (mean ~0.776): loud warnings
    assert!(
        cal.warnings
            .iter()
            .any(|w| w.contains("above the 95th percentile")),
        "{:?}",
        cal.warnings
    );
    assert!(
        cal.warnings.iter().any(|w| w.contains("shift of")),
        "{:?}",
        cal.warnings
    );
    let text = render_text(&cal);
    assert!(text.contains("!! WARNING"), "{text}");
    assert!(!text.contains("NaN"));
    // a proposed threshold near the compromise raises no warning of its own
    let opts = Options {
        propose: Some(Threshold::parse("0.76").unwrap()),
        ..Options::default()
    };
    let cal2 = calibrate(&recs, &opts).unwrap();
    assert!(
        cal2.warnings.iter().all(|w| !w.contains("proposed")),
        "{:?}",
        cal2.warnings
    );
    assert!(cal2.pooled.at_proposed.unwrap().value().unwrap() > 0.8);
}

#[test]
fn ties_go_to_the_lowest_threshold_and_thresholds_are_f32_exact() {
    // canonical 0.70 passes at T = 0.70 (f32 vs f32, inclusive); the shadow cosine is exactly
    // the f32 of 0.70, so t = 0.70 passes it and 0.71 does not.
    let recs = vec![
        record(0, Some("race"), 0.70, Some(0.70), 0.70, 0.70, None),
        record(1, Some("race"), 0.50, Some(0.40), 0.70, 0.70, None),
    ];
    let opts = Options {
        grid: Grid::parse("0.60:0.80:0.01").unwrap(),
        ..Options::default()
    };
    let cal = calibrate(&recs, &opts).unwrap();
    let race = &cal.phases[0];
    // agreement is 100% for t in (0.40, 0.70]: best = lowest = 0.60
    assert_eq!(race.best.as_ref().unwrap().0.label, "0.60");
    assert_eq!(
        race.agreement_at(&Threshold::parse("0.70").unwrap())
            .unwrap()
            .k,
        2
    );
    assert_eq!(
        race.agreement_at(&Threshold::parse("0.71").unwrap())
            .unwrap()
            .k,
        1
    );
    let c = cal.compromise.as_ref().unwrap();
    assert_eq!(c.threshold.label, "0.60");
    let (lo, hi) = c.feasible.as_ref().unwrap();
    assert_eq!((lo.label.as_str(), hi.label.as_str()), ("0.60", "0.70"));
}

#[test]
fn torn_lines_and_error_records_are_read_and_reported() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("shadow.jsonl");
    let mut recs = synthetic(7, 50, 30, 0.8, 0.2);
    recs.push(shadow_error(1000, Some("race"), 0.8));
    recs.push(shadow_error(1001, Some("race"), 0.6));
    recs.push(record(
        1002,
        Some("qualifying"),
        0.8,
        None,
        0.70,
        0.95,
        None,
    ));
    write_log(&p, &recs);
    let torn = serde_json::to_string(&recs[0]).unwrap();
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("this is not json\n");
    text.push_str(&torn[..torn.len() / 2]);
    std::fs::write(&p, text).unwrap();

    let cal = calibrate_logs(&[&p], &Options::default()).unwrap();
    assert_eq!(cal.records, 83);
    assert_eq!(cal.pairs.len(), 80);
    assert_eq!(cal.excluded.shadow_error, 2);
    assert_eq!(cal.excluded.no_shadow, 1);
    assert_eq!(cal.skipped.len(), 2);
    assert_eq!(cal.skipped[0].line, 84);
    assert_eq!(cal.skipped[1].line, 85);
    assert!(
        cal.skipped[1].reason.contains("torn"),
        "{}",
        cal.skipped[1].reason
    );
    let race = cal.phases.iter().find(|p| p.name == "race").unwrap();
    assert_eq!(race.excluded.shadow_error, 2);
    let out = render_text(&cal);
    assert!(
        out.contains("2 shadow errors, 1 without a shadow side"),
        "{out}"
    );
    assert!(out.contains("2 unreadable line(s) skipped"), "{out}");
    assert!(out.contains(":85: torn last line"), "{out}");
    let j = to_json(&cal);
    assert_eq!(j["inputs"]["skipped_lines"].as_array().unwrap().len(), 2);
    assert_eq!(j["inputs"]["excluded"]["shadow_error"], 2);
    assert_eq!(j["phases"]["race"]["excluded"]["shadow_error"], 2);
}

#[test]
fn single_pair_and_empty_phase_say_so_instead_of_nan() {
    let recs = vec![
        record(0, Some("race"), 0.8, Some(0.75), 0.70, 0.72, None),
        shadow_error(1, Some("qualifying"), 0.9),
        shadow_error(2, Some("qualifying"), 0.3),
    ];
    let cal = calibrate(&recs, &Options::default()).unwrap();
    let race = cal.phases.iter().find(|p| p.name == "race").unwrap();
    let qual = cal.phases.iter().find(|p| p.name == "qualifying").unwrap();
    assert_eq!((race.n, qual.n), (1, 0));
    assert!(race.pearson.is_err() && race.spearman.is_err());
    assert!(race.canonical.sd.is_err());
    assert!(qual.best.is_none());
    let c = cal.compromise.as_ref().unwrap();
    assert_eq!(c.empty_phases, vec!["qualifying".to_string()]);
    assert_eq!(c.per_phase.len(), 1);

    let text = render_text(&cal);
    assert!(!text.to_lowercase().contains("nan"), "{text}");
    assert!(
        text.contains("race: pearson r undefined: needs at least 2 pairs, has 1"),
        "{text}"
    );
    assert!(
        text.contains("qualifying: no usable pairs (excluded: 2 shadow errors)"),
        "{text}"
    );
    let j = to_json(&cal);
    let js = serde_json::to_string(&j).unwrap();
    assert!(!js.contains("NaN"));
    assert!(j["phases"]["race"]["pearson"].is_null());
    assert!(j["phases"]["race"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("at least 2 pairs"));
    assert_eq!(j["phases"]["qualifying"]["n"], 0);
    assert!(j["phases"]["qualifying"]["best_threshold"].is_null());

    // constant cosines: Pearson undefined for that reason
    let recs = vec![
        record(0, None, 0.8, Some(0.75), 0.70, 0.72, None),
        record(1, None, 0.8, Some(0.65), 0.70, 0.72, None),
    ];
    let cal = calibrate(&recs, &Options::default()).unwrap();
    assert_eq!(cal.phases[0].name, "(none)");
    let text = render_text(&cal);
    assert!(
        text.contains("every canonical cosine is the same"),
        "{text}"
    );
}

#[test]
fn no_pairs_is_an_error_that_says_why() {
    let recs = vec![shadow_error(0, Some("race"), 0.9)];
    let e = calibrate(&recs, &Options::default()).unwrap_err();
    assert!(matches!(e, CalibrateError::NoPairs { .. }));
    assert!(e.to_string().contains("1 shadow error"), "{e}");
    assert!(calibrate(&[], &Options::default())
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let bad = Options {
        floor: 78.0,
        ..Options::default()
    };
    assert!(calibrate(&synthetic(1, 5, 5, 1.0, 0.0), &bad)
        .unwrap_err()
        .to_string()
        .contains("0.78"));
}

#[test]
fn mixed_logged_thresholds_use_the_most_common_and_say_so() {
    let mut recs = synthetic(3, 30, 0, 0.8, 0.2);
    recs[0].canonical.threshold = 0.75;
    let cal = calibrate(&recs, &Options::default()).unwrap();
    assert_eq!(cal.canonical_threshold.threshold.label, "0.70");
    assert!(cal.canonical_threshold.is_mixed());
    assert!(
        cal.notes
            .iter()
            .any(|n| n.contains("several canonical thresholds")),
        "{:?}",
        cal.notes
    );
    let given = Options {
        canon_threshold: Some(Threshold::parse("0.75").unwrap()),
        ..Options::default()
    };
    let cal = calibrate(&recs, &given).unwrap();
    assert_eq!(cal.canonical_threshold.threshold.label, "0.75");
}

fn labelled(n: usize) -> Vec<titlesim_log::ShadowRecord> {
    let mut recs = synthetic(11, n, n / 4, 0.8, 0.2);
    for (i, r) in recs.iter_mut().enumerate() {
        let c = r.canonical.cosine.unwrap();
        r.label = Some(u8::from(c + if i % 7 == 0 { -0.1 } else { 0.02 } > 0.72));
    }
    recs
}

fn check_report(dir: &std::path::Path, expect_roc: bool) {
    let mut stems = vec!["agreement", "scatter", "histograms"];
    if expect_roc {
        stems.push("roc");
    }
    for stem in &stems {
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(
            doc.descendants().any(|n| n.has_tag_name("text")),
            "{stem}.svg has no text"
        );
        let f = std::fs::File::open(dir.join(format!("{stem}.png"))).unwrap();
        let mut r = png::Decoder::new(std::io::BufReader::new(f))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert!(
            info.width >= 900 && info.height >= 500,
            "{stem}.png {}x{}",
            info.width,
            info.height
        );
        // not a blank image: some pixels are far from white
        let dark = buf.chunks(4).filter(|p| p[0] < 128 && p[1] < 128).count();
        assert!(dark > 100, "{stem}.png looks blank");
    }
    assert!(!dir.join("roc.svg").exists() || expect_roc);
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(!html.contains("<script"), "no scripts in the page");
    // nothing fetched from the network: the only URL is the SVG namespace name
    let stripped = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!stripped.contains("http://") && !stripped.contains("https://"));
    let mut refs = 0;
    for attr in ["href=\"", "src=\""] {
        for part in html.split(attr).skip(1) {
            let target = &part[..part.find('"').unwrap()];
            if target.starts_with('#') || target.starts_with("url(") {
                continue;
            }
            refs += 1;
            assert!(
                dir.join(target).is_file(),
                "index.html refers to missing {target}"
            );
        }
    }
    assert!(
        refs >= 2 * stems.len(),
        "index.html links its files ({refs})"
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    for part in md.split("](").skip(1) {
        let target = &part[..part.find(')').unwrap()];
        assert!(
            dir.join(target).is_file(),
            "summary.md refers to missing {target}"
        );
    }
    assert!(md.contains("![agreement](agreement.png)"));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap())
            .unwrap();
    assert!(j["compromise"]["threshold"].is_number());
}

#[test]
fn report_files_exist_and_are_valid() {
    let d = tempfile::tempdir().unwrap();
    let cal = calibrate(&labelled(400), &Options::default()).unwrap();
    assert!(cal.pooled.labels.is_some());
    let rep = write_report(&cal, d.path(), &ReportOptions::default()).unwrap();
    assert!(rep.files.len() >= 12, "{:?}", rep.files);
    check_report(d.path(), true);
    let html = std::fs::read_to_string(&rep.html).unwrap();
    assert!(html.contains("WARNING"));
    if rep.png_font.is_none() {
        assert!(html.contains("No font was found"));
    }

    // unlabelled: no ROC plot
    let d2 = tempfile::tempdir().unwrap();
    let cal = calibrate(&synthetic(5, 200, 60, 0.8, 0.2), &Options::default()).unwrap();
    write_report(&cal, d2.path(), &ReportOptions::default()).unwrap();
    check_report(d2.path(), false);

    // The unlabelled report over the labelled one's folder: no roc figure of the earlier run
    // stays beside it, and calibration.json is the new run's.
    let rep = write_report(&cal, d.path(), &ReportOptions::default()).unwrap();
    check_report(d.path(), false);
    assert!(!d.path().join("roc.png").exists());
    assert!(!rep
        .files
        .iter()
        .any(|f| f.to_string_lossy().starts_with("roc")));
    assert_eq!(
        std::fs::read_to_string(d.path().join("calibration.json")).unwrap(),
        serde_json::to_string_pretty(&to_json(&cal)).unwrap()
    );
    // nothing of the writing is left behind (the staging folder, the earlier files kept)
    assert!(
        !snapshot(d.path()).keys().any(|n| n.starts_with('.')),
        "{:?}",
        snapshot(d.path()).keys()
    );
}

/// Every entry of `dir` (hidden ones too) with its bytes; a folder as `None`.
fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<String, Option<Vec<u8>>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).ok(),
            )
        })
        .collect()
}

#[test]
fn a_report_that_cannot_be_written_leaves_the_earlier_one_as_it_was() {
    // The earlier report's files were deleted before the new ones were written: a failure
    // left a folder with some of them, or none.
    let d = tempfile::tempdir().unwrap();
    let labelled_cal = calibrate(&labelled(400), &Options::default()).unwrap();
    write_report(&labelled_cal, d.path(), &ReportOptions::default()).unwrap();
    // a folder where the new report would write summary.md
    std::fs::remove_file(d.path().join("summary.md")).unwrap();
    std::fs::create_dir(d.path().join("summary.md")).unwrap();
    std::fs::write(d.path().join("summary.md/mine.txt"), "a user's file").unwrap();
    let before = snapshot(d.path());
    let cal = calibrate(&synthetic(5, 200, 60, 0.8, 0.2), &Options::default()).unwrap();
    let e = write_report(&cal, d.path(), &ReportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("summary.md: is a folder, where the report writes a file"),
        "{e}"
    );
    assert_eq!(snapshot(d.path()), before, "the earlier report changed");
    assert!(d.path().join("roc.png").is_file());
}

#[test]
fn model_names_from_a_hand_edited_log_cannot_drive_the_terminal() {
    let mut recs = synthetic(5, 40, 20, 0.8, 0.2);
    for r in &mut recs {
        r.canonical.model = "bge\u{1b}[2J".into();
    }
    let text = render_text(&calibrate(&recs, &Options::default()).unwrap());
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("bge\\u{1b}[2J"), "{text}");
}

#[test]
fn phase_names_cannot_reshape_the_markdown_summary() {
    // A `|` in a phase added table columns and `<img src=x onerror=...>` went into summary.md
    // as raw HTML (index.html was escaped).
    let mut recs = synthetic(5, 120, 60, 0.8, 0.2);
    for r in &mut recs {
        if r.phase.as_deref() == Some("race") {
            r.phase = Some("race | <img src=x onerror=alert(1)>".into());
        }
    }
    let d = tempfile::tempdir().unwrap();
    let cal = calibrate(&recs, &Options::default()).unwrap();
    write_report(&cal, d.path(), &ReportOptions::default()).unwrap();
    let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
    assert!(!md.contains("<img"), "{md}");
    let columns = |line: &str| line.replace("\\|", "").matches('|').count();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert!(rows.iter().any(|l| l.contains("race \\| &lt;img")), "{md}");
    assert!(rows.iter().all(|l| columns(l) == columns(rows[0])), "{md}");

    // Nor add an image fetched from elsewhere, or a link.
    let mut recs = synthetic(5, 120, 60, 0.8, 0.2);
    for r in &mut recs {
        if r.phase.as_deref() == Some("race") {
            r.phase = Some("![x](https://evil.example/t.png) [ok](javascript:alert(1))".into());
        }
    }
    let cal = calibrate(&recs, &Options::default()).unwrap();
    write_report(&cal, d.path(), &ReportOptions::default()).unwrap();
    let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
    assert!(
        md.contains("\\!\\[x\\]\\(https://evil.example/t.png\\)"),
        "{md}"
    );
    assert!(
        !md.contains("](https") && !md.contains("](javascript"),
        "{md}"
    );
}

#[test]
fn report_without_any_font_still_writes_decodable_pngs() {
    let d = tempfile::tempdir().unwrap();
    let cal = calibrate(&labelled(100), &Options::default()).unwrap();
    let opts = ReportOptions {
        font: FontChoice::NoText,
        ..ReportOptions::default()
    };
    let rep = write_report(&cal, d.path(), &opts).unwrap();
    assert_eq!(rep.png_font, None);
    check_report(d.path(), true);
    let md = std::fs::read_to_string(&rep.markdown).unwrap();
    assert!(md.contains("No font was found"), "{md}");
    // and a font file given explicitly is used when it exists
    let dejavu = std::path::Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    if dejavu.is_file() {
        let d = tempfile::tempdir().unwrap();
        let opts = ReportOptions {
            font: FontChoice::Path(dejavu.to_path_buf()),
            ..ReportOptions::default()
        };
        let rep = write_report(&cal, d.path(), &opts).unwrap();
        assert_eq!(rep.png_font.as_deref(), Some("DejaVu Sans"));
    }
}

#[test]
fn single_phase_and_single_pair_reports_render() {
    let d = tempfile::tempdir().unwrap();
    let recs = vec![record(0, None, 0.8, Some(0.75), 0.70, 0.72, None)];
    let cal = calibrate(&recs, &Options::default()).unwrap();
    write_report(&cal, d.path(), &ReportOptions::default()).unwrap();
    for stem in ["agreement", "scatter", "histograms"] {
        let svg = std::fs::read_to_string(d.path().join(format!("{stem}.svg"))).unwrap();
        roxmltree::Document::parse(&svg).unwrap();
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{stem}.svg");
    }
}

/// The same log given twice (or two overlapping runs) counts each pair once, and says so.
#[test]
fn a_pair_id_read_twice_counts_once() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("shadow.jsonl");
    write_log(&p, &synthetic(7, 50, 30, 0.8, 0.2));
    let once = calibrate_logs(&[&p], &Options::default()).unwrap();
    let twice = calibrate_logs(&[&p, &p], &Options::default()).unwrap();
    assert_eq!(twice.records, 2 * once.records);
    assert_eq!(twice.pairs.len(), once.pairs.len());
    let (j1, j2) = (to_json(&once), to_json(&twice));
    assert_eq!(j2["phases"], j1["phases"]);
    assert_eq!(j2["compromise"], j1["compromise"]);
    let n = once.records;
    assert!(
        twice
            .notes
            .iter()
            .any(|m| m.starts_with(&format!("{n} record(s) of a pair id already read"))),
        "{:?}",
        twice.notes
    );
    assert!(!once.notes.iter().any(|m| m.contains("already read")));
}

/// Two runs that reused pair ids for different pairs: keeping each id's first record would
/// drop the second run's pairs without a word, so calibrate and review export refuse them,
/// naming an id; the same log given twice stays a counted duplicate (above).
#[test]
fn pair_ids_reused_for_other_pairs_are_refused() {
    let run_a = synthetic(7, 50, 30, 0.8, 0.2);
    let mut run_b = synthetic(8, 50, 30, 0.8, 0.2);
    for r in &mut run_b {
        r.product = format!("{} (run b)", r.product);
    }
    let mixed: Vec<_> = run_a.iter().chain(&run_b).cloned().collect();
    let err = calibrate(&mixed, &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CalibrateError::Invalid(_)), "{err:?}");
    assert!(
        msg.contains(&format!(
            "pair id `{}` names two different pairs",
            run_a[0].pair_id
        )) && msg.contains(&format!("so do {} other id(s)", run_a.len() - 1)),
        "{msg}"
    );
    let opts = titlesim_calibrate::review::ExportOptions {
        canon_threshold: None,
        shadow_threshold: Threshold::parse("0.78").unwrap(),
        sample: None,
    };
    let err = titlesim_calibrate::review::export(&mixed, &opts).unwrap_err();
    assert!(
        err.to_string().contains("names two different pairs"),
        "{err}"
    );
    // Read from logs, the error names the log and line of both records: in two logs, and
    // in one (a blank line counted).
    let d = tempfile::tempdir().unwrap();
    let (a, b, one) = (
        d.path().join("a.jsonl"),
        d.path().join("b.jsonl"),
        d.path().join("one.jsonl"),
    );
    write_log(&a, &run_a);
    write_log(&b, &run_b);
    let mut text = String::from("\n");
    text.push_str(&std::fs::read_to_string(&a).unwrap());
    text.push_str(&std::fs::read_to_string(&b).unwrap());
    std::fs::write(&one, text).unwrap();
    let id = &run_a[0].pair_id;
    let why = "names another pair than on";
    let cases = [
        (
            vec![&a, &b],
            format!("{}:1: pair id `{id}` {why} {}:1 ", b.display(), a.display()),
        ),
        (
            vec![&one],
            format!(
                "{}:{}: pair id `{id}` {why} line 2 ",
                one.display(),
                run_a.len() + 2
            ),
        ),
    ];
    for (logs, want) in cases {
        for err in [
            calibrate_logs(&logs, &Options::default()).unwrap_err(),
            titlesim_calibrate::review::export_logs(&logs, &opts).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(matches!(err, CalibrateError::Row { .. }), "{err:?}");
            assert!(
                msg.starts_with(&want)
                    && msg.contains("(their product, gt or phase differ), and so do ")
                    && msg.contains("`TASK/AGENT`"),
                "{msg}"
            );
        }
    }
    // The same pairs under another phase: which phase counted depended on the order of the
    // logs, so it is a conflict too, in either order.
    let rephased: Vec<_> = run_a
        .iter()
        .cloned()
        .map(|mut r| {
            r.phase = Some(format!("{}-again", r.phase.as_deref().unwrap_or("none")));
            r
        })
        .collect();
    for (first, second) in [(&run_a, &rephased), (&rephased, &run_a)] {
        let both: Vec<_> = first.iter().chain(second.iter()).cloned().collect();
        let msg = calibrate(&both, &Options::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("names two different pairs (their product, gt or phase differ)"),
            "{msg}"
        );
    }
    // The same run twice: counted once, and the export says how many records it left out.
    let twice: Vec<_> = run_a.iter().chain(&run_a).cloned().collect();
    let once = titlesim_calibrate::review::export(&run_a, &opts).unwrap();
    let e = titlesim_calibrate::review::export(&twice, &opts).unwrap();
    assert_eq!((e.pairs, e.disagreements), (once.pairs, once.disagreements));
    assert_eq!((e.duplicates, once.duplicates), (run_a.len(), 0));
    assert!(
        e.summary().contains(&format!(
            "; {} repeated record(s) of a pair id left out, the first counts",
            run_a.len()
        )),
        "{}",
        e.summary()
    );
}
