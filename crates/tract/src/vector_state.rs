//! Leaves the x86 vector registers' upper halves clean after every operation of a plan, so the
//! code that runs next does not pay the AVX-to-SSE transition penalty.
//!
//! tract-linalg's x86_64 matrix kernels are hand-written assembly (AVX2/FMA and AVX-512) that
//! return without `vzeroupper`. The registers' upper halves then stay "dirty", and on Intel
//! CPUs every legacy-SSE instruction that follows — everything compiled for baseline x86-64,
//! which is most of tract and of this crate, and libm's `expf` — runs with a false dependency on
//! them. Measured on an Intel Xeon with AVX-512 (2026-12-05, all-MiniLM-L6-v2, one title of 30
//! tokens): the row softmax of one attention layer took 1.31 ms after a matrix product and
//! 34–41 µs after a `vzeroupper`, 38× less; summed over the plan, half of tract's time went to
//! this (benches/README.md, "2026-12-06"). Intel's rule is a `vzeroupper` after AVX code and
//! before SSE code; [`eval_node`] issues one after each operation of the plan (one instruction,
//! no latency), where the CPU has AVX. Other architectures have no such state: there it is a
//! plain evaluation.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, OpState};

/// Evaluates `node` as tract's plan would, then cleans the vector registers' upper halves
/// (x86_64 with AVX; see the module documentation).
pub(crate) fn eval_node(
    ctx: &EvalContext,
    state: Option<&mut (dyn OpState + 'static)>,
    node: &TypedNode,
    input: TVec<TValue>,
) -> TractResult<TVec<TValue>> {
    let out = tract_onnx::tract_core::plan::eval(ctx, state, node, input);
    clean_upper_halves();
    out
}

/// `vzeroupper` where the CPU has AVX; nothing elsewhere.
#[inline(never)]
fn clean_upper_halves() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is present, so the instruction exists. It zeroes bits 128 and up of
        // ymm0–15/zmm0–15 and leaves xmm0–15 as they are; this function is compiled without
        // AVX (and never inlined), so the compiler keeps nothing live in those upper bits.
        unsafe { std::arch::asm!("vzeroupper", options(nomem, nostack, preserves_flags)) }
    }
}

/// Whether the upper halves of the AVX registers (bits 128–511 of zmm0–15) hold data, read from
/// the processor's state-component bitmap (`XGETBV` with `ECX = 1`); `None` where the CPU
/// cannot say.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) fn upper_halves_in_use() -> Option<bool> {
    use std::arch::x86_64::__cpuid_count;
    let osxsave = __cpuid_count(1, 0).ecx & (1 << 27) != 0;
    // Leaf 0xD, sub-leaf 1, EAX bit 2: XGETBV with ECX = 1 is supported.
    if !osxsave || __cpuid_count(0xD, 1).eax & (1 << 2) == 0 {
        return None;
    }
    let (lo, _hi): (u32, u32);
    // SAFETY: the CPU supports XGETBV (OSXSAVE) with ECX = 1 (checked above).
    unsafe {
        std::arch::asm!("xgetbv", in("ecx") 1u32, out("eax") lo, out("edx") _hi,
            options(nomem, nostack, preserves_flags));
    }
    // Bit 2: the upper halves of ymm0–15; bit 6: the upper 256 bits of zmm0–15.
    Some(lo & (1 << 2 | 1 << 6) != 0)
}
