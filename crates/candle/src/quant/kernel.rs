//! The int8 product kernels, and which of them this CPU runs (from the features
//! [`crate::cpu`] detected, or the one `TITLESIM_INT8_KERNEL` names).

use super::CResult;

/// The environment variable that picks a kernel other than the fastest, to compare kernels
/// on one machine (benchmarks): one of the names [`Kernel::name`] gives.
pub(crate) const KERNEL_ENV: &str = "TITLESIM_INT8_KERNEL";

/// Every kernel's name, on any architecture (a name from this list that this CPU cannot run
/// is refused as such, not as unknown).
const KNOWN: &[&str] = &[
    "portable",
    "avx2",
    "avx-vnni",
    "avx512-vnni",
    "dotprod",
    "i8mm",
];
/// Why a known kernel is refused.
const CANNOT: &str = "this CPU (or this build) cannot run it";

/// The integer product kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    /// Portable Rust for the auto-vectoriser (any target).
    Portable,
    /// AVX2 intrinsics (`vpmaddwd` on i16-widened operands, x86-64).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-VNNI intrinsics (`vpdpbusd` on 256-bit vectors, x86-64 without AVX-512).
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
    /// AVX-512 VNNI intrinsics (`vpdpbusd`, x86-64).
    #[cfg(target_arch = "x86_64")]
    Vnni,
    /// The dot-product instruction `sdot` (i8 × i8 → i32, 16 multiply-adds per instruction;
    /// the u8 activations shifted to i8 and the shift added back, aarch64 FEAT_DotProd).
    #[cfg(target_arch = "aarch64")]
    Dotprod,
    /// The int8 matrix instruction `usmmla` (u8 × i8 → i32, a 2×8 by 8×2 product: 32
    /// multiply-adds per instruction, aarch64 FEAT_I8MM).
    #[cfg(target_arch = "aarch64")]
    I8mm,
}

/// The instruction-set build the code around a kernel (activation quantisation,
/// dequantisation, outlier rows) runs in: those parts are plain loops compiled once per
/// instruction set, not per kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isa {
    /// The target's baseline (on aarch64 that is NEON, so the vector build).
    Baseline,
    /// AVX2 (x86-64).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 (x86-64).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The instruction-set build of the code around this kernel. Only offered for kernels
    /// this CPU runs, so the CPU has its features.
    pub(super) fn isa(self) -> Isa {
        match self {
            Kernel::Portable => Isa::Baseline,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni => Isa::Avx2,
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => Isa::Avx512,
            #[cfg(target_arch = "aarch64")]
            Kernel::Dotprod | Kernel::I8mm => Isa::Baseline,
        }
    }

    /// The kernel the int8 layers run: the one [`KERNEL_ENV`] names when it is set (an error
    /// if this CPU cannot run it or the name is unknown), else the fastest this CPU runs.
    pub(super) fn detect() -> CResult<Kernel> {
        crate::cpu::kernel_from_env(
            KERNEL_ENV,
            &Kernel::available(),
            Kernel::name,
            KNOWN,
            CANNOT,
        )
    }

    /// The fastest kernel this CPU runs (the tests; the layers go through [`Kernel::detect`]).
    #[cfg(test)]
    pub(super) fn fastest() -> Kernel {
        Kernel::available()
            .into_iter()
            .last()
            .unwrap_or(Kernel::Portable)
    }

    /// The kernel called `name`, if this CPU runs it.
    #[cfg(test)]
    fn named(name: &str) -> CResult<Kernel> {
        crate::cpu::kernel_named(
            KERNEL_ENV,
            name,
            &Kernel::available(),
            Kernel::name,
            KNOWN,
            CANNOT,
        )
    }

    /// The kernel's name, as [`KERNEL_ENV`] takes it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => "avx-vnni",
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => "avx512-vnni",
            #[cfg(target_arch = "aarch64")]
            Kernel::Dotprod => "dotprod",
            #[cfg(target_arch = "aarch64")]
            Kernel::I8mm => "i8mm",
        }
    }

    /// Every kernel this CPU can run, slowest first (the portable one always).
    pub(super) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let cpu = crate::cpu::features();
            if cpu.avx2 {
                v.push(Kernel::Avx2);
                if cpu.avxvnni {
                    v.push(Kernel::AvxVnni);
                }
            }
            if cpu.avx512f && cpu.avx512bw && cpu.avx512vnni {
                v.push(Kernel::Vnni);
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let cpu = crate::cpu::features();
            if cpu.dotprod {
                v.push(Kernel::Dotprod);
            }
            if cpu.i8mm {
                v.push(Kernel::I8mm);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_found_by_name_and_unknown_or_missing_ones_are_refused() {
        for k in Kernel::available() {
            assert_eq!(Kernel::named(k.name()).unwrap(), k);
        }
        let err = Kernel::named("avx3").unwrap_err().to_string();
        assert!(
            err.contains("TITLESIM_INT8_KERNEL=avx3: no such kernel") && err.contains("portable"),
            "{err}"
        );
        // A kernel of the other architecture is known but never runnable here.
        let other = if cfg!(target_arch = "x86_64") {
            "i8mm"
        } else {
            "avx2"
        };
        let err = Kernel::named(other).unwrap_err().to_string();
        assert!(err.contains("cannot run it"), "{err}");
    }
}
