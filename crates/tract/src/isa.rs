//! `TRACT_CPU_ISA`, checked before tract reads it.
//!
//! tract-linalg picks its kernels from the CPU's features, edited by the environment variable
//! `TRACT_CPU_ISA` (comma-separated `+feature` / `-feature` / `feature`, e.g.
//! `-avx512f,-avxvnni` to run as on an AVX2-only host). It reads the variable once, at the
//! first model it optimises, and is unforgiving both ways: a feature of another architecture
//! (`+neon` on x86-64) stops the process with a panic, and a name it does not know is ignored
//! with nothing said, so a typo leaves the kernels the user meant to take away in place. The
//! backend checks the variable at load and refuses both with an error that names the token.

use tract_linalg::isa::{Arch, Isa};

/// The name of the variable.
pub(crate) const VAR: &str = "TRACT_CPU_ISA";

/// The architecture this build runs, as tract names it (none on one it has no kernels for).
fn native_arch() -> Option<Arch> {
    Arch::ALL.into_iter().find(Arch::is_native)
}

/// The features tract knows for `arch`, as `TRACT_CPU_ISA` names them.
fn names_of(arch: Arch) -> Vec<&'static str> {
    Isa::ALL
        .into_iter()
        .filter(|i| i.arch() == arch)
        .map(|i| i.name())
        .collect()
}

/// Checks a `TRACT_CPU_ISA` value the way tract-linalg 0.23 reads it (tokens split on commas
/// and trimmed, empty ones skipped, an optional leading `+` or `-`) against `arch`, the
/// architecture the process runs: every token must name a feature tract knows, of `arch`.
/// The error says which token and why, and lists `arch`'s features.
pub(crate) fn check(spec: &str, arch: Option<Arch>) -> Result<(), String> {
    for token in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let name = token
            .strip_prefix('+')
            .or_else(|| token.strip_prefix('-'))
            .unwrap_or(token);
        let why = match Isa::ALL.into_iter().find(|i| i.name() == name) {
            None => "names no instruction set tract knows (tract would ignore it and keep the \
                     kernels it meant to change)"
                .to_string(),
            Some(isa) if Some(isa.arch()) != arch => format!(
                "is a feature of {}, not of this machine (tract would stop the process)",
                isa.arch()
            ),
            Some(_) => continue,
        };
        let here = arch.map_or("none here".to_string(), |a| {
            format!("{a}: {}", names_of(a).join(", "))
        });
        return Err(format!("{VAR}={spec}: `{token}` {why}; features of {here}"));
    }
    Ok(())
}

/// Checks the environment's `TRACT_CPU_ISA`, if set, for this process's architecture.
pub(crate) fn check_env() -> Result<(), String> {
    match std::env::var(VAR) {
        Ok(spec) => check(&spec, native_arch()),
        Err(std::env::VarError::NotPresent) => Ok(()),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!(
            "{VAR} is not valid UTF-8 ({v:?}): tract would ignore it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_of_this_architecture_pass() {
        let x86 = Some(Arch::X86_64);
        for ok in [
            "",
            " , ",
            "-avx512f,-avx512vnni,-avx512fp16,-avxvnni,-amx-int8,-amx-bf16",
            " +fma , avx2 ",
            "-x86_64",
        ] {
            assert_eq!(check(ok, x86), Ok(()), "{ok:?}");
        }
        assert_eq!(check("-sve2,+fp16", Some(Arch::Aarch64)), Ok(()));
    }

    #[test]
    fn another_architectures_feature_is_refused_by_name() {
        let e = check("-avx512f,+neon", Some(Arch::X86_64)).unwrap_err();
        assert!(
            e.starts_with("TRACT_CPU_ISA=-avx512f,+neon: `+neon` is a feature of"),
            "{e}"
        );
        assert!(e.contains("not of this machine"), "{e}");
        assert!(
            e.contains("features of x86_64: x86_64, avx, avx2, fma"),
            "{e}"
        );
        let e = check("-avx2", Some(Arch::Aarch64)).unwrap_err();
        assert!(e.contains("`-avx2` is a feature of x86_64"), "{e}");
    }

    #[test]
    fn an_unknown_name_is_refused_not_ignored() {
        let e = check("-avx512f,-avx512_vnni", Some(Arch::X86_64)).unwrap_err();
        assert!(
            e.contains("`-avx512_vnni` names no instruction set tract knows"),
            "{e}"
        );
        assert!(
            e.contains("avx512vnni"),
            "the list shows the right spelling: {e}"
        );
        let e = check("++fma", Some(Arch::X86_64)).unwrap_err();
        assert!(e.contains("`++fma`"), "{e}");
    }

    #[test]
    fn this_build_knows_its_architecture() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(native_arch(), Some(Arch::X86_64));
        #[cfg(target_arch = "aarch64")]
        assert_eq!(native_arch(), Some(Arch::Aarch64));
    }
}
