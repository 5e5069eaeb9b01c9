//! The input readers: formats, and errors that name file, line and field.

use std::path::{Path, PathBuf};

use titlesim::io::{read_pairs, read_texts, PairFormat, TextFormat, TextReader};
use titlesim::Error;

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// The (path, line, message) of an input error, or a panic naming what came instead.
fn input_error(e: Error) -> (PathBuf, u64, String) {
    match e {
        Error::Input {
            path,
            line,
            message,
        } => (path, line, message),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn text_lines_keep_inner_empty_lines_but_not_a_final_newline() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "t.txt", "a\n\nUSB C ✓\r\nlast".as_bytes());
    assert_eq!(read_texts(Some(&p)).unwrap(), ["a", "", "USB C ✓", "last"]);
    let p = write(d.path(), "t2.txt", b"one\ntwo\n");
    assert_eq!(read_texts(Some(&p)).unwrap(), ["one", "two"]);
}

#[test]
fn invalid_utf8_names_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "bad.txt", b"fine\nalso fine\nbro\xffken\n");
    let (path, line, msg) = input_error(read_texts(Some(&p)).unwrap_err());
    assert_eq!(path, p);
    assert_eq!(line, 3);
    assert!(msg.contains("UTF-8"), "{msg}");
    let shown = Error::Input {
        path: path.clone(),
        line,
        message: msg,
    }
    .to_string();
    assert!(shown.contains("bad.txt:3"), "{shown}");
}

#[test]
fn jsonl_texts() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "t.jsonl",
        br#"{"text": "a", "id": 1}

{"text": ""}
{"text": "line\nbreak"}
"#,
    );
    assert_eq!(TextFormat::for_path(Some(&p)), TextFormat::Jsonl);
    assert_eq!(read_texts(Some(&p)).unwrap(), ["a", "", "line\nbreak"]);
    // The other names replay and pairs files take as JSON lines: each line's JSON was
    // embedded as a text.
    for name in ["t.ndjson", "t.json", "T.NDJSON"] {
        let q = d.path().join(name);
        std::fs::copy(&p, &q).unwrap();
        assert_eq!(
            read_texts(Some(&q)).unwrap(),
            ["a", "", "line\nbreak"],
            "{name}"
        );
    }
    assert_eq!(
        TextFormat::for_path(Some(Path::new("t.txt"))),
        TextFormat::Lines
    );

    let p = write(
        d.path(),
        "m.jsonl",
        b"{\"text\": \"a\"}\n{\"title\": \"b\"}\n",
    );
    let (path, line, msg) = input_error(read_texts(Some(&p)).unwrap_err());
    assert_eq!((path, line), (p.clone(), 2));
    assert!(msg.contains("`text`"), "{msg}");

    let p = write(d.path(), "n.jsonl", b"{\"text\": 5}\n");
    let (_, line, msg) = input_error(read_texts(Some(&p)).unwrap_err());
    assert_eq!(line, 1);
    assert!(msg.contains("`text`") && msg.contains("number"), "{msg}");

    let p = write(d.path(), "j.jsonl", b"{\"text\": \"a\"}\n{oops\n");
    let (_, line, msg) = input_error(read_texts(Some(&p)).unwrap_err());
    assert_eq!(line, 2);
    assert!(msg.contains("invalid JSON"), "{msg}");
}

#[test]
fn text_reader_streams_in_chunks_and_stops_at_the_first_error() {
    let data = b"1\n2\n3\n\xfe\n5\n".to_vec();
    let mut r = TextReader::from_reader(std::io::Cursor::new(data), "in", TextFormat::Lines);
    assert_eq!(r.next_chunk(2).unwrap(), ["1", "2"]);
    let (path, line, _) = input_error(r.next_chunk(2).unwrap_err());
    assert_eq!((path, line), (PathBuf::from("in"), 4));
    assert!(r.next().is_none());
}

#[test]
fn missing_text_file_is_an_io_error_naming_it() {
    let e = read_texts(Some(Path::new("/no/such/file.txt"))).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("/no/such/file.txt"), "{e}");
}

#[test]
fn the_sample_pairs_read_as_documented() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample_pairs.csv");
    let pairs = read_pairs(&p).unwrap();
    assert_eq!(pairs.len(), 100);
    assert_eq!(pairs[0].id, "1");
    assert_eq!(pairs.line(0), 2);
    assert_eq!(pairs[0].phase.as_deref(), Some("qualifying"));
    // A quoted field with doubled quotes.
    assert_eq!(
        pairs[0].gt,
        "Milwaukee M18 FUEL 1/2\" Hammer Drill (Tool Only)"
    );
    let q = pairs
        .iter()
        .filter(|p| p.phase.as_deref() == Some("qualifying"))
        .count();
    assert_eq!(q, 30);
    assert_eq!(pairs.iter().filter(|p| p.label == Some(1)).count(), 43);
    assert_eq!(pairs.iter().filter(|p| p.label == Some(0)).count(), 57);
}

#[test]
fn csv_and_jsonl_pairs_agree() {
    let d = tempfile::tempdir().unwrap();
    let csv = write(
        d.path(),
        "p.csv",
        b"id,product,gt,phase,label,extra\na,\"x, y\",z,race,1,?\nb,p,q,,,\n",
    );
    let jsonl = write(
        d.path(),
        "p.jsonl",
        br#"{"id": "a", "product": "x, y", "gt": "z", "phase": "race", "label": 1}
{"id": "b", "product": "p", "gt": "q", "phase": null}
"#,
    );
    let a = read_pairs(&csv).unwrap();
    let b = read_pairs(&jsonl).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].product, "x, y");
    assert_eq!(a[0].label, Some(1));
    assert_eq!(a[1].phase, None);
    assert_eq!(a[1].label, None);
    let strip = |v: titlesim::io::PairsFile| {
        v.into_pairs()
            .into_iter()
            .map(|p| (p.id, p.product, p.gt, p.phase, p.label))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(a), strip(b));

    // Numeric JSON ids, and `.json` read as JSON lines.
    let json = write(
        d.path(),
        "p.json",
        b"{\"id\": 7, \"product\": \"a\", \"gt\": \"b\"}\n",
    );
    assert_eq!(read_pairs(&json).unwrap()[0].id, "7");
}

#[test]
fn pairs_errors_name_what_is_wrong() {
    let d = tempfile::tempdir().unwrap();

    // Missing column.
    let p = write(d.path(), "mc.csv", b"id,product,label\n1,a,1\n");
    let (path, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!((path, line), (p.clone(), 1));
    assert!(msg.contains("missing column `gt`"), "{msg}");

    // Empty file and header only.
    let p = write(d.path(), "empty.csv", b"");
    let (_, _, msg) = input_error(read_pairs(&p).unwrap_err());
    assert!(msg.contains("empty") || msg.contains("no pairs"), "{msg}");
    let p = write(d.path(), "header.csv", b"id,product,gt\n");
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert!(msg.contains("no pairs"), "{msg}");
    assert_eq!(line, 1, "the header's line, not line 0");
    let p = write(d.path(), "empty.jsonl", b"\n\n");
    let (_, _, msg) = input_error(read_pairs(&p).unwrap_err());
    assert!(msg.contains("no pairs"), "{msg}");

    // Duplicate ids name both lines.
    let p = write(d.path(), "dup.csv", b"id,product,gt\n1,a,b\n2,c,d\n1,e,f\n");
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!(line, 4);
    assert!(
        msg.contains("duplicate id `1`") && msg.contains("line 2"),
        "{msg}"
    );

    // A row with a wrong number of fields: the record's line.
    let p = write(
        d.path(),
        "row.csv",
        b"id,product,gt\n1,a,b\n2,\"multi\nline\",c\n3,only\n",
    );
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!(line, 5, "{msg}");
    assert!(
        msg.starts_with("row has 2 cells where the header has 3"),
        "{msg}"
    );

    // A bad label.
    let p = write(d.path(), "label.csv", b"id,product,gt,label\n1,a,b,yes\n");
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!(line, 2);
    assert!(msg.contains("label"), "{msg}");

    // Invalid UTF-8 in a CSV record.
    let p = write(d.path(), "utf.csv", b"id,product,gt\n1,a,b\n2,\xff,c\n");
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!(line, 3);
    assert!(msg.starts_with("cell 2 is not UTF-8 text"), "{msg}");

    // JSON lines: missing and mistyped fields.
    let p = write(
        d.path(),
        "f.jsonl",
        b"{\"id\": 1, \"product\": \"a\", \"gt\": \"b\"}\n{\"id\": 2, \"product\": \"a\"}\n",
    );
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!(line, 2);
    assert!(msg.contains("missing field `gt`"), "{msg}");
    let p = write(
        d.path(),
        "t.jsonl",
        b"{\"id\": 1, \"product\": 3, \"gt\": \"b\"}\n",
    );
    let (_, _, msg) = input_error(read_pairs(&p).unwrap_err());
    assert!(msg.contains("`product`") && msg.contains("string"), "{msg}");

    // Unknown extension.
    let p = write(d.path(), "pairs.tsv", b"id\tproduct\tgt\n");
    let (_, _, msg) = input_error(read_pairs(&p).unwrap_err());
    assert!(msg.contains(".csv") && msg.contains(".jsonl"), "{msg}");
    assert!(PairFormat::for_path(Path::new("x.JSONL")).is_ok());
    assert_eq!(
        PairFormat::for_path(Path::new("x.ndjson")).unwrap(),
        PairFormat::Jsonl
    );
}

/// An old Mac file, its lines ended by a lone `\r` (which the csv crate ends a record at), has
/// its errors named at their lines: every one was "line 1".
#[test]
fn a_csv_with_lone_cr_line_ends_names_the_right_lines() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "mac.csv", b"id,product,gt\r1,a,b\r2,c,d\r1,e,f\r");
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!(line, 4, "{msg}");
    assert!(msg.contains("duplicate id `1` (first on line 2)"), "{msg}");
}

/// A CSV whose last line is torn inside a quoted field (a crash mid-write) is refused at
/// that line, as the JSON-lines reader refuses a torn line; quotes inside unquoted fields
/// (`27" monitor`), doubled quotes and a quoted last field without a final newline stay valid.
#[test]
fn a_csv_torn_inside_a_quoted_field_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "torn.csv",
        b"id,product,gt\n1,a,b\n2,\"iPhone 15, 128 GB\",iPhone 15\n3,Apple iPhone 15,\"iPhone 1",
    );
    let (path, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!((path, line), (p.clone(), 4));
    assert!(msg.contains("ends inside a quoted field"), "{msg}");
    // The same tear with a multi-line field before it.
    let p = write(
        d.path(),
        "torn2.csv",
        b"id,product,gt\n1,\"two\nlines\",b\n2,c,\"d \"\"e\"\" f",
    );
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!(line, 4);
    assert!(msg.contains("ends inside a quoted field"), "{msg}");

    for ok in [
        &b"id,product,gt\n1,27\" monitor,27 inch monitor\n2,a,\"b \"\"c\"\"\""[..],
        b"id,product,gt\n1,a,\"b, c\"\n",
        b"id,product,gt\n1,a,\"b, c\"",
    ] {
        let p = write(d.path(), "ok.csv", ok);
        let pairs = read_pairs(&p).unwrap();
        assert!(!pairs.is_empty());
    }
    let p = write(
        d.path(),
        "ok.csv",
        b"id,product,gt\n1,27\" monitor,27 inch monitor\n2,a,\"b \"\"c\"\"\"",
    );
    let pairs = read_pairs(&p).unwrap();
    assert_eq!(pairs[0].product, "27\" monitor");
    assert_eq!(pairs[1].gt, "b \"c\"");
}

#[test]
fn csv_errors_name_the_right_line_with_crlf_ends_and_blank_lines() {
    let d = tempfile::tempdir().unwrap();
    // The csv crate alone puts the bad label on line 2 (CRLF) and line 3 (blank line).
    let p = write(
        d.path(),
        "crlf.csv",
        b"id,product,gt,label\r\n1,a,b,1\r\n2,c,d,7\r\n",
    );
    let (_, line, msg) = input_error(read_pairs(&p).unwrap_err());
    assert_eq!((line, msg.contains("label")), (3, true), "{msg}");
    let p = write(
        d.path(),
        "blank.csv",
        b"id,product,gt,label\n1,a,b,1\n\n2,c,d,7\n",
    );
    assert_eq!(input_error(read_pairs(&p).unwrap_err()).1, 4);
    // A title holding a CRLF line break keeps it, and the next row's line is still right.
    let p = write(
        d.path(),
        "quoted.csv",
        b"id,product,gt,label\r\n1,\"a\r\nb\",c,1\r\n2,c,d,9\r\n",
    );
    assert_eq!(input_error(read_pairs(&p).unwrap_err()).1, 4);
    let p = write(d.path(), "ok.csv", b"id,product,gt\r\n1,\"a\r\nb\",c\r\n");
    let pairs = read_pairs(&p).unwrap().into_pairs();
    assert_eq!(pairs[0].product, "a\r\nb");
}
