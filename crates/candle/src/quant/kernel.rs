//! The int8 product kernels, and which of them this CPU runs (from the features
//! [`crate::cpu`] detected).

/// The integer product kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    /// Portable Rust for the auto-vectoriser (any target).
    Portable,
    /// AVX2 intrinsics (`vpmaddwd` on i16-widened operands, x86-64).
    #[cfg(target_arch = "x86_64")]
    Avx2,
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

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub(super) fn detect() -> Kernel {
        Kernel::available()
            .into_iter()
            .last()
            .unwrap_or(Kernel::Portable)
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
