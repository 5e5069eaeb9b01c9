//! What a run ran on: the CPU and its SIMD features, this process's peak memory, and the
//! versions of the inference stack.

use crate::{ort_library, workspace_root};

/// The CPU: architecture, model name and the SIMD features that matter for inference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuInfo {
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// The model name from /proc/cpuinfo, or "unknown".
    pub model: String,
    /// Logical cores visible to this process.
    pub logical_cores: usize,
    /// Detected features (x86: avx2, fma, avx512f, avx512_vnni, avx512_bf16, amx_bf16; aarch64: neon,
    /// dotprod, i8mm, bf16, sve).
    pub features: Vec<String>,
    /// Why this process looks emulated (e.g. an aarch64 build under qemu-user on an x86-64
    /// host), when it does: its timings then say nothing about the real CPU.
    pub emulated: Option<String>,
    /// The host kind the speed targets were measured on (see `host_kind`): `benches/README.md`
    /// keeps one table per kind.
    pub host_kind: String,
    /// The backends that ran as on an AVX2-only host although the CPU has more (`candle`,
    /// `tract`: see `Avx2Cap`); empty when none did. The fastest-backend targets then count
    /// only these, since the others' speed is not an AVX2 host's.
    pub avx2_capped: Vec<String>,
}

/// The host kind for the speed targets, from the architecture and the detected features:
/// "AVX-512 VNNI", "AVX-512 (no VNNI)", "AVX2 with AVX-VNNI", "AVX2-only", "Arm i8mm", "Arm
/// dotprod", "Arm NEON only". `cap` says which engines run as on an AVX2-only host although the
/// CPU has more (`cargo xtask bench --avx2-only`): candle in a build with `RUSTFLAGS="--cfg
/// titlesim_avx2_only"`, tract with `TRACT_CPU_ISA` taking its AVX-512 and AVX-VNNI kernels
/// away. ONNX Runtime has no such switch and still uses all of the CPU's features, so on such
/// a CPU the kind says that ratios to it are not an AVX2 host's.
pub fn host_kind(arch: &str, features: &[String], cap: Avx2Cap) -> String {
    let kind = cpu_kind(arch, features);
    let (who, how, rest) = match (cap.candle, cap.tract) {
        _ if !wider_than_avx2(kind) => return kind.to_string(),
        (false, false) => return kind.to_string(),
        (true, false) => (
            "candle",
            "built with --cfg titlesim_avx2_only",
            "ONNX Runtime and tract still use all of its features, so ratios to them are not an \
             AVX2 host's",
        ),
        (false, true) => (
            "tract",
            "run with TRACT_CPU_ISA without AVX-512 and AVX-VNNI",
            "ONNX Runtime and candle still use all of its features, so ratios to them are not an \
             AVX2 host's",
        ),
        (true, true) => (
            "candle and tract",
            "candle built with --cfg titlesim_avx2_only, tract run with TRACT_CPU_ISA without \
             AVX-512 and AVX-VNNI,",
            "ONNX Runtime still uses all of its features, so ratios to it understate what an \
             AVX2 host with these cores would give",
        ),
    };
    format!("AVX2-only for {who} ({how} on an {kind} CPU; {rest})")
}

/// The host kind of the CPU itself, before any cap (see [`host_kind`]).
fn cpu_kind<'a>(arch: &'a str, features: &[String]) -> &'a str {
    let has = |f: &str| features.iter().any(|x| x == f);
    match arch {
        "x86_64" | "x86" if has("avx512_vnni") => "AVX-512 VNNI",
        "x86_64" | "x86" if has("avx512f") => "AVX-512 (no VNNI)",
        "x86_64" | "x86" if has("avx_vnni") => "AVX2 with AVX-VNNI",
        "x86_64" | "x86" if has("avx2") => "AVX2-only",
        "x86_64" | "x86" => "x86 without AVX2",
        "aarch64" if has("i8mm") => "Arm i8mm",
        "aarch64" if has("dotprod") => "Arm dotprod",
        "aarch64" => "Arm NEON only",
        other => other,
    }
}

/// Whether a CPU of host kind `kind` has more than an AVX2-only host (so a cap takes
/// something away).
fn wider_than_avx2(kind: &str) -> bool {
    kind.starts_with("AVX-512") || kind.ends_with("AVX-VNNI")
}

/// Which engines a benchmark runs as on an AVX2-only host (see [`host_kind`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Avx2Cap {
    /// candle: a build with `RUSTFLAGS="--cfg titlesim_avx2_only"`.
    pub candle: bool,
    /// tract: `TRACT_CPU_ISA` removes `avx512f` and `avxvnni` (see [`tract_capped`]).
    pub tract: bool,
}

impl CpuInfo {
    /// The CPU line the benchmarks print: `x86_64 (Intel(R) Xeon(R) Processor), 2 logical
    /// cores, features [avx2, fma, ...]` (the form `benches/README.md` quotes).
    pub fn line(&self) -> String {
        format!(
            "{} ({}), {} logical cores, features [{}]",
            self.arch,
            self.model,
            self.logical_cores,
            self.features.join(", ")
        )
    }

    /// The warning to print when this process looks emulated: its timings then say nothing
    /// about the real CPU.
    pub fn warning(&self) -> Option<String> {
        self.emulated
            .as_ref()
            .map(|why| format!("WARNING: {why}; the timings of this run are not meaningful"))
    }
}

impl Avx2Cap {
    /// The capped backends, where the cap took something away: none on a CPU of `arch` with
    /// `features` that is AVX2-only anyway, where every backend runs as on one.
    pub fn backends(self, arch: &str, features: &[String]) -> Vec<String> {
        if !wider_than_avx2(cpu_kind(arch, features)) {
            return Vec::new();
        }
        [("candle", self.candle), ("tract", self.tract)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(b, _)| b.to_string())
            .collect()
    }
}

/// The `TRACT_CPU_ISA` tract-linalg reads (comma-separated `+feature`/`-feature` edits of the
/// probed instruction sets) that an `--avx2-only` benchmark runs tract with (see [`tract_isa`]):
/// it takes away every kernel an AVX2-only x86-64 host lacks.
pub const TRACT_AVX2_ONLY_ISA: &str =
    "-avx512f,-avx512vnni,-avx512fp16,-avxvnni,-amx-int8,-amx-bf16";

/// The `TRACT_CPU_ISA` the measuring processes run with: the environment's, or in a build with
/// `--cfg titlesim_avx2_only` (where candle runs as on an AVX2-only host) `TRACT_AVX2_ONLY_ISA`
/// when the environment sets none, so that tract runs as on one too.
pub fn tract_isa() -> Option<String> {
    std::env::var("TRACT_CPU_ISA")
        .ok()
        .or_else(|| cfg!(titlesim_avx2_only).then(|| TRACT_AVX2_ONLY_ISA.to_string()))
}

/// Whether a `TRACT_CPU_ISA` value takes both AVX-512 and AVX-VNNI away from tract (the two
/// that make an x86-64 host more than AVX2-only; the other AVX-512 kinds need `avx512f`).
pub fn tract_capped(spec: Option<&str>) -> bool {
    let removes = |name: &str| {
        spec.unwrap_or("")
            .split(',')
            .filter_map(|t| t.trim().strip_prefix('-'))
            .any(|t| t == name)
    };
    removes("avx512f") && removes("avxvnni")
}

/// Whether the CPU has AMX-TILE and AMX-BF16 (CPUID leaf 7: EDX bits 24 and 22), which the
/// candle bf16 mode runs on when Linux grants the tiles.
#[cfg(target_arch = "x86_64")]
fn amx_bf16() -> bool {
    let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
    (edx >> 22) & 1 == 1 && (edx >> 24) & 1 == 1
}

/// 32-bit x86 has no AMX.
#[cfg(target_arch = "x86")]
fn amx_bf16() -> bool {
    false
}

/// Why a process of architecture `arch` that reads `cpuinfo` as `/proc/cpuinfo` is emulated,
/// if it is: qemu-user passes the host's file through, so an aarch64 process that sees an
/// x86 `flags` line (or an x86-64 one that sees ARM's `CPU implementer`) runs on another
/// architecture.
pub fn emulation_reason(arch: &str, cpuinfo: &str) -> Option<String> {
    let has_key = |key: &str| {
        cpuinfo
            .lines()
            .any(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
    };
    let host = if arch == "aarch64" && (has_key("flags") || has_key("vendor_id")) {
        "an x86 host"
    } else if (arch == "x86_64" || arch == "x86") && has_key("CPU implementer") {
        "an ARM host"
    } else {
        return None;
    };
    Some(format!(
        "this {arch} build runs emulated on {host} (qemu-user?): /proc/cpuinfo describes the host"
    ))
}

/// Describes the CPU this runs on (portable: feature detection only on x86/x86_64/aarch64).
pub fn cpu_info() -> CpuInfo {
    #[allow(unused_mut)]
    let mut features: Vec<String> = Vec::new();
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let checks = [
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512_vnni", std::is_x86_feature_detected!("avx512vnni")),
            ("avx_vnni", std::is_x86_feature_detected!("avxvnni")),
            ("avx512_bf16", std::is_x86_feature_detected!("avx512bf16")),
            ("amx_bf16", amx_bf16()),
        ];
        features.extend(checks.iter().filter(|c| c.1).map(|c| c.0.to_string()));
    }
    #[cfg(target_arch = "aarch64")]
    {
        let checks = [
            ("neon", std::arch::is_aarch64_feature_detected!("neon")),
            (
                "dotprod",
                std::arch::is_aarch64_feature_detected!("dotprod"),
            ),
            ("i8mm", std::arch::is_aarch64_feature_detected!("i8mm")),
            ("bf16", std::arch::is_aarch64_feature_detected!("bf16")),
            ("sve", std::arch::is_aarch64_feature_detected!("sve")),
        ];
        features.extend(checks.iter().filter(|c| c.1).map(|c| c.0.to_string()));
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
    let emulated = cpuinfo
        .as_deref()
        .and_then(|s| emulation_reason(std::env::consts::ARCH, s));
    let model = cpuinfo
        .as_deref()
        .and_then(|s| {
            s.lines()
                .find(|l| {
                    let k = l.split(':').next().unwrap_or("").trim();
                    k == "model name" || k == "Model" || k == "CPU part"
                })
                .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown".into());
    let cap = Avx2Cap {
        candle: cfg!(titlesim_avx2_only),
        tract: tract_capped(tract_isa().as_deref()),
    };
    let host_kind = host_kind(std::env::consts::ARCH, &features, cap);
    let avx2_capped = cap.backends(std::env::consts::ARCH, &features);
    CpuInfo {
        host_kind,
        avx2_capped,
        arch: std::env::consts::ARCH.into(),
        model,
        logical_cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        features,
        emulated,
    }
}

/// This process's peak resident set size in MB (VmHWM of /proc/self/status); `None` where
/// that is not available (non-Linux).
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Versions of the inference stack, read from the workspace's Cargo.lock (`unknown` when absent).
pub fn stack_versions() -> Vec<(String, String)> {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap_or_default();
    let mut out = vec![(
        "titlesim".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    )];
    for n in ["candle-core", "ort", "tract-onnx", "tokenizers"] {
        out.push((n.to_string(), lock_version(&lock, n)));
    }
    out.push((
        "onnxruntime library".into(),
        ort_library()
            .and_then(|p| {
                p.file_name()
                    .map(|f| f.to_string_lossy().replace("libonnxruntime.so.", ""))
            })
            .unwrap_or_else(|| "not found in models/onnxruntime".into()),
    ));
    out
}

/// The version of the first package called `name` in the text of a Cargo.lock; `unknown` when
/// it is not there.
fn lock_version(lock: &str, name: &str) -> String {
    let pat = format!("name = \"{name}\"\nversion = \"");
    lock.find(&pat)
        .map(|i| {
            let rest = &lock[i + pat.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_version_reads_the_named_package_only() {
        let lock = "[[package]]\nname = \"ort-sys\"\nversion = \"9.9.9\"\n\n\
                    [[package]]\nname = \"ort\"\nversion = \"2.0.0-rc.10\"\n";
        assert_eq!(lock_version(lock, "ort"), "2.0.0-rc.10");
        assert_eq!(lock_version(lock, "tract-onnx"), "unknown");
    }

    #[test]
    fn host_kind_names_the_widest_int8_path_and_an_avx2_cap() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let none = Avx2Cap::default();
        let candle = Avx2Cap {
            candle: true,
            tract: false,
        };
        let tract = Avx2Cap {
            candle: false,
            tract: true,
        };
        let both = Avx2Cap {
            candle: true,
            tract: true,
        };
        let vnni = f(&["avx2", "fma", "avx512f", "avx512_vnni"]);
        assert_eq!(host_kind("x86_64", &vnni, none), "AVX-512 VNNI");
        assert_eq!(
            host_kind("x86_64", &f(&["avx2", "fma", "avx512f"]), none),
            "AVX-512 (no VNNI)"
        );
        assert_eq!(host_kind("x86_64", &f(&["avx2", "fma"]), none), "AVX2-only");
        // A cap on an AVX2-only CPU changes nothing.
        assert_eq!(host_kind("x86_64", &f(&["avx2", "fma"]), both), "AVX2-only");
        let avx_vnni = f(&["avx2", "fma", "avx_vnni"]);
        assert_eq!(host_kind("x86_64", &avx_vnni, none), "AVX2 with AVX-VNNI");
        let capped = host_kind("x86_64", &avx_vnni, candle);
        assert!(capped.contains("on an AVX2 with AVX-VNNI CPU"), "{capped}");
        let capped = host_kind("x86_64", &vnni, candle);
        assert!(capped.starts_with("AVX2-only for candle ("), "{capped}");
        assert!(capped.contains("AVX-512 VNNI CPU"), "{capped}");
        assert!(
            capped.contains("ONNX Runtime and tract still use"),
            "{capped}"
        );
        let capped = host_kind("x86_64", &vnni, tract);
        assert!(capped.starts_with("AVX2-only for tract ("), "{capped}");
        assert!(
            capped.contains("ONNX Runtime and candle still use"),
            "{capped}"
        );
        let capped = host_kind("x86_64", &vnni, both);
        assert!(
            capped.starts_with("AVX2-only for candle and tract ("),
            "{capped}"
        );
        assert!(capped.contains("ONNX Runtime still uses"), "{capped}");
        assert_eq!(
            host_kind("aarch64", &f(&["neon", "dotprod"]), none),
            "Arm dotprod"
        );
        assert_eq!(
            host_kind("aarch64", &f(&["neon", "dotprod", "i8mm"]), both),
            "Arm i8mm"
        );
        assert_eq!(host_kind("aarch64", &f(&["neon"]), none), "Arm NEON only");
    }

    #[test]
    fn the_cpu_line_and_the_emulation_warning() {
        let mut cpu = CpuInfo {
            arch: "aarch64".into(),
            model: "0xd0c".into(),
            logical_cores: 2,
            features: vec!["neon".into(), "dotprod".into()],
            emulated: None,
            host_kind: "Arm dotprod".into(),
            avx2_capped: Vec::new(),
        };
        assert_eq!(
            cpu.line(),
            "aarch64 (0xd0c), 2 logical cores, features [neon, dotprod]"
        );
        assert_eq!(cpu.warning(), None);
        cpu.emulated = Some("qemu".into());
        assert_eq!(
            cpu.warning().as_deref(),
            Some("WARNING: qemu; the timings of this run are not meaningful")
        );
    }

    #[test]
    fn capped_backends_only_where_the_cap_took_something_away() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let both = Avx2Cap {
            candle: true,
            tract: true,
        };
        let vnni = f(&["avx2", "avx512f", "avx512_vnni"]);
        assert_eq!(both.backends("x86_64", &vnni), ["candle", "tract"]);
        let plain = f(&["avx2", "fma"]);
        assert!(both.backends("x86_64", &plain).is_empty());
        let tract = Avx2Cap {
            candle: false,
            tract: true,
        };
        assert_eq!(tract.backends("x86_64", &vnni), ["tract"]);
    }

    #[test]
    fn tract_counts_as_capped_only_without_avx512_and_avx_vnni() {
        assert!(tract_capped(Some(TRACT_AVX2_ONLY_ISA)));
        assert!(tract_capped(Some(" -avxvnni , -avx512f ")));
        assert!(!tract_capped(None));
        assert!(!tract_capped(Some("-avx512f")));
        assert!(!tract_capped(Some("-avxvnni,+avx512f")));
        // A removed feature whose name merely contains "avx512f" is not it.
        assert!(!tract_capped(Some("-avx512fp16,-avxvnni")));
    }

    #[test]
    fn emulation_is_told_from_a_cpuinfo_of_another_architecture() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2\n";
        let arm = "processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n";
        assert!(emulation_reason("aarch64", x86)
            .unwrap()
            .contains("emulated on an x86 host"));
        assert!(emulation_reason("x86_64", arm)
            .unwrap()
            .contains("emulated on an ARM host"));
        assert_eq!(emulation_reason("aarch64", arm), None);
        assert_eq!(emulation_reason("x86_64", x86), None);
        // "model name" contains no "flags" key by accident.
        assert_eq!(
            emulation_reason("aarch64", "model name\t: flags-like\n"),
            None
        );
    }
}
