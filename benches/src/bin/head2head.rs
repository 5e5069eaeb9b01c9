//! The head-to-head benchmark behind `cargo xtask bench`; its work is in
//! `titlesim_bench::head2head` (`src/head2head/`).

fn main() -> std::process::ExitCode {
    titlesim_bench::head2head::main()
}
