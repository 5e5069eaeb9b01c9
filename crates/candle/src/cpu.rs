//! CPU-feature detection, once per process, and the run-time dispatch of the f32 row loops.
//!
//! The kernels are compiled for the target's baseline and, on x86-64, also for wider
//! instruction sets; which build runs is decided at run time from what [`features`] found
//! (AVX2, FMA, AVX-512F/BW, AVX-512 VNNI, AVX-VNNI, AVX-512 BF16 and AMX-BF16 with the
//! operating system's permission, asked once). On aarch64 NEON is the baseline, and
//! the int8 kernels also come in builds for the dot-product (`sdot`) and int8 matrix
//! (`usmmla`) extensions, and the bf16 ones for the BFloat16 extension (`bfmmla`), chosen the
//! same way. Other targets run the portable builds only.
//!
//! * The f32 row loops of `ops` take their build from [`isa`], through [`simd_dispatch`].
//! * The int8 kernels of `quant` and the bf16 ones of `bf16` are listed per CPU by
//!   `quant::Kernel::available` and `bf16::Kernel::available`, from [`features`].

use std::sync::OnceLock;

/// Whether this build was made with `RUSTFLAGS="--cfg titlesim_avx2_only"`: then no AVX-512 or
/// AVX-VNNI kernel runs (neither the int8 VNNI ones nor, through the `gemm` crate's `x86-v4`
/// feature left out, the f32 matrix products' AVX-512 ones), so an AVX-512 machine measures
/// what an AVX2-only host (AMD Zen 2/3, Intel before Ice Lake) gets.
/// For benchmarking; ordinary builds use every feature the CPU has.
#[cfg(target_arch = "x86_64")]
const AVX2_ONLY: bool = cfg!(titlesim_avx2_only);

/// The instruction-set extensions the x86-64 kernels are compiled for, as this CPU has them.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features {
    /// AVX2.
    pub(crate) avx2: bool,
    /// FMA.
    pub(crate) fma: bool,
    /// AVX-512 Foundation.
    pub(crate) avx512f: bool,
    /// AVX-512 Byte and Word.
    pub(crate) avx512bw: bool,
    /// AVX-512 Vector Neural Network Instructions (`vpdpbusd`).
    pub(crate) avx512vnni: bool,
    /// AVX-VNNI: `vpdpbusd` on 256-bit vectors, without AVX-512 (Intel Alder Lake and Sierra
    /// Forest and later, AMD Zen 5).
    pub(crate) avxvnni: bool,
    /// AVX-512 BF16 (`vdpbf16ps`: bf16 pairs multiplied and added into f32).
    pub(crate) avx512bf16: bool,
    /// AMX-TILE and AMX-BF16, with the operating system's permission to use the tiles.
    pub(crate) amx_bf16: bool,
}

/// The instruction-set extensions the aarch64 kernels use, as this CPU has them (NEON itself
/// is part of the aarch64 baseline).
#[cfg(target_arch = "aarch64")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features {
    /// The dot-product instructions (`sdot`/`udot`, Armv8.2 FEAT_DotProd: Neoverse N1 and later).
    pub(crate) dotprod: bool,
    /// The int8 matrix multiply-accumulate instructions (`smmla`/`usmmla`, FEAT_I8MM: Neoverse V1
    /// and later).
    pub(crate) i8mm: bool,
    /// The BFloat16 instructions (`bfmmla`, `bfdot`, FEAT_BF16: Neoverse V1, N2 and later, as in
    /// Graviton3 and Graviton4).
    pub(crate) bf16: bool,
}

/// The builds of the f32 row loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The compilation target's baseline (SSE2 on x86-64, NEON on aarch64, ...). On aarch64 the
    /// f32 products run the `gemm` crate's NEON micro-kernels and the row loops are
    /// vectorised for NEON, so this is the aarch64 f32 build.
    Baseline,
    /// x86-64 with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

/// What was detected, and the f32 build chosen from it.
struct Cpu {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    features: Features,
    isa: Isa,
}

impl Cpu {
    fn detect() -> Cpu {
        #[cfg(target_arch = "x86_64")]
        {
            let features = Features {
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                fma: std::arch::is_x86_feature_detected!("fma"),
                // A `--cfg titlesim_avx2_only` build runs as on an AVX2-only host (see
                // `AVX2_ONLY`).
                avx512f: !AVX2_ONLY && std::arch::is_x86_feature_detected!("avx512f"),
                avx512bw: !AVX2_ONLY && std::arch::is_x86_feature_detected!("avx512bw"),
                avx512vnni: !AVX2_ONLY && std::arch::is_x86_feature_detected!("avx512vnni"),
                avxvnni: !AVX2_ONLY && std::arch::is_x86_feature_detected!("avxvnni"),
                avx512bf16: !AVX2_ONLY && std::arch::is_x86_feature_detected!("avx512bf16"),
                amx_bf16: !AVX2_ONLY && crate::bf16::amx::usable(),
            };
            let isa = if features.avx2 && features.fma {
                Isa::Avx2
            } else {
                Isa::Baseline
            };
            Cpu { features, isa }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let features = Features {
                dotprod: std::arch::is_aarch64_feature_detected!("dotprod"),
                i8mm: std::arch::is_aarch64_feature_detected!("i8mm"),
                bf16: std::arch::is_aarch64_feature_detected!("bf16"),
            };
            Cpu {
                features,
                isa: Isa::Baseline,
            }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        Cpu { isa: Isa::Baseline }
    }
}

fn cpu() -> &'static Cpu {
    static CPU: OnceLock<Cpu> = OnceLock::new();
    CPU.get_or_init(Cpu::detect)
}

/// The instruction-set extensions of this CPU (detected once).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn features() -> Features {
    cpu().features
}

/// The build of the f32 row loops this CPU runs (chosen once).
pub(crate) fn isa() -> Isa {
    cpu().isa
}

/// The kernel a `TITLESIM_*_KERNEL` switch picks from `available` (this CPU's kernels,
/// slowest first): the fastest when the variable `env` is unset or empty, else the one
/// `name` calls what it says ([`kernel_named`]).
pub(crate) fn kernel_from_env<K: Copy>(
    env: &str,
    available: &[K],
    name: fn(K) -> &'static str,
    known: &[&str],
    cannot: &str,
) -> candle_core::Result<K> {
    match std::env::var(env) {
        Ok(v) if !v.trim().is_empty() => {
            kernel_named(env, v.trim(), available, name, known, cannot)
        }
        _ => match available.last() {
            Some(k) => Ok(*k),
            None => candle_core::bail!("{env}: no kernel available"),
        },
    }
}

/// The kernel of `available` called `wanted`, else an error that says whether the name is
/// unknown (not in `known`, the kernels of every architecture) or `cannot` be run here, and
/// names the kernels this CPU runs.
pub(crate) fn kernel_named<K: Copy>(
    env: &str,
    wanted: &str,
    available: &[K],
    name: fn(K) -> &'static str,
    known: &[&str],
    cannot: &str,
) -> candle_core::Result<K> {
    if let Some(k) = available.iter().find(|&&k| name(k) == wanted) {
        return Ok(*k);
    }
    let why = if known.contains(&wanted) {
        cannot
    } else {
        "no such kernel"
    };
    let names: Vec<&str> = available.iter().map(|&k| name(k)).collect();
    candle_core::bail!(
        "{env}={wanted}: {why}; kernels this CPU runs: {}",
        names.join(", ")
    )
}

/// Defines `fn $name(args)` whose body is compiled once for the baseline target and, on
/// x86-64, once more with AVX2+FMA enabled; the call picks the build the CPU supports.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                generic($($arg),*)
            }

            match $crate::cpu::isa() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `isa()` returns `Avx2` only when the CPU has AVX2 and FMA.
                $crate::cpu::Isa::Avx2 => unsafe { avx2($($arg),*) },
                $crate::cpu::Isa::Baseline => generic($($arg),*),
            }
        }
    };
}
pub(crate) use simd_dispatch;
