//! Every option of every command is explained in the README, in that command's section: a
//! command or option the README does not explain is not done.

mod common;

use std::path::Path;

use common::*;

/// The README section (its heading) that explains each command; a command's subcommands
/// (`review export`) are explained in the same section.
const SECTIONS: &[(&str, &str)] = &[
    ("embed", "### 1. Score"),
    ("score", "### 1. Score"),
    ("inspect", "### 1. Score"),
    ("shadow", "### 2. Shadow"),
    ("precompute", "### 2. Shadow"),
    ("replay", "### Replaying history"),
    ("sql", "### Replaying history"),
    ("serve", "## Serving"),
    ("calibrate", "### 3. Calibrate"),
    ("review", "### 4. Review"),
    ("promote", "### 5. Promote"),
    ("burn-in", "### 6. Burn-in"),
];

/// The text under `heading`, up to the next heading of its level or above (lines in fenced
/// code blocks, such as a shell example's `# comment`, are not headings).
fn section(readme: &str, heading: &str) -> String {
    let level = heading.split(' ').next().unwrap().len();
    let mut lines = readme.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "README has no heading {heading:?}");
    let mut fenced = false;
    let mut out = String::new();
    for line in lines {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        let hashes = line.bytes().take_while(|&b| b == b'#').count();
        if !fenced && hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The subcommands a `--help` lists (its `Commands:` block), but `help`.
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("\nCommands:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The long options a `--help` lists (`  -c, --config <FILE>`, `      --json`), but `--help`
/// and `--version`.
fn long_options(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let t = match t.strip_prefix('-') {
                Some(rest) if !rest.starts_with('-') => rest.split_once(", ")?.1,
                _ => t,
            };
            let name: String = t
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty() && name != "help" && name != "version").then_some(name)
        })
        .collect()
}

/// Whether `text` names option `--name` (not a longer one it begins: `--batch` in
/// `--batch-size`).
fn mentions(text: &str, name: &str) -> bool {
    let flag = format!("--{name}");
    text.match_indices(&flag).any(|(i, _)| {
        !text[i + flag.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn every_option_of_every_command_is_explained_in_its_readme_section() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let top = ok(&titlesim(&["--help"], None));
    let commands = subcommands(&top);
    assert!(commands.len() >= 8, "{top}");
    let mut missing = Vec::new();
    for command in &commands {
        let Some((_, heading)) = SECTIONS.iter().find(|(c, _)| c == command) else {
            missing.push(format!(
                "{command}: no README section is known for it (SECTIONS)"
            ));
            continue;
        };
        let text = &section(&readme, heading);
        assert!(
            text.contains(&format!("titlesim {command}")),
            "README section {heading:?} does not name `titlesim {command}`"
        );
        let help = ok(&titlesim(&[command, "--help"], None));
        let mut invocations = vec![(command.clone(), help.clone())];
        for sub in subcommands(&help) {
            let h = ok(&titlesim(&[command, &sub, "--help"], None));
            invocations.push((format!("{command} {sub}"), h));
        }
        for (what, help) in invocations {
            let mut names = long_options(&help);
            names.sort_unstable();
            names.dedup();
            for name in names {
                if !mentions(text, &name) {
                    missing.push(format!("{what} --{name} (README section {heading:?})"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "options --help lists that their README section never names:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_help_parsers_read_what_clap_prints() {
    let help = "Usage: titlesim x\n\nCommands:\n  export  Export\n          more\n  tally   Tally\n  help    Print\n\nOptions:\n  -c, --config <FILE>\n          Configuration\n      --json\n          Print\n      --chunk-size <N>  Texts\n  -h, --help\n";
    assert_eq!(subcommands(help), ["export", "tally"]);
    assert_eq!(long_options(help), ["config", "json", "chunk-size"]);
    assert!(mentions("use `--chunk-size N`.", "chunk-size"));
    assert!(!mentions("use `--batch-size N`", "batch"));
    assert!(mentions("`--batch`, its old name", "batch"));
    let readme = "# T\n## A\ntext --a\n```sh\n# a comment\n```\n### A.1\nsub --b\n## B\n--c\n";
    assert_eq!(
        section(readme, "## A"),
        "text --a\n```sh\n# a comment\n```\n### A.1\nsub --b\n"
    );
    assert_eq!(section(readme, "### A.1"), "sub --b\n");
}
