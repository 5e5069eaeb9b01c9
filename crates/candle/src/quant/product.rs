//! The product driver: `a @ w^T` over (column panel × row block) work items on the current
//! rayon pool, each item's micro-tiles handed to a [`Sink`] (the dequantisation, or the raw
//! sums for the tests).

use candle_core::bail;
use rayon::prelude::*;

use super::kernel::{Isa, Kernel};
use super::packed::PackedI8;
use super::rows::QuantRows;
use super::tile::{tile, widened, Acc};
use super::{CResult, MC, MR, NR, PAR_MIN_MACS};

/// Receives finished tiles: rows `r0..r0 + rows`, columns `c0..c0 + cols` (`acc[r][c]`).
pub(super) trait Sink: Sync {
    fn tile(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc);
}

/// Runs `a @ w^T` tile by tile, in parallel on the current rayon pool when it is worth it.
pub(super) fn product<S: Sink>(
    kernel: Kernel,
    a: &QuantRows,
    w: &PackedI8,
    sink: &S,
) -> CResult<()> {
    if a.kp != w.kp {
        bail!(
            "int8 linear: input width {} does not match the weights' {}",
            a.kp,
            w.kp
        );
    }
    if a.data.len() != a.m * a.kp || w.data.len() != w.panels() * w.kp * NR {
        bail!("int8 linear: buffer sizes do not match");
    }
    let (m, kp, n) = (a.m, a.kp, w.n);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let groups = kp / 4;
    let wide = widened(kernel, &a.data);
    let mblocks = m.div_ceil(MC);
    let items = w.panels() * mblocks;
    let job = |item: usize| {
        // Consecutive items share a panel, so a thread keeps its panel in cache.
        let (p, mb) = (item / mblocks, item % mblocks);
        let panel = &w.data[p * kp * NR..(p + 1) * kp * NR];
        let (c0, cols) = (p * NR, NR.min(n - p * NR));
        let mut acc = [[0i32; NR]; MR];
        let end = m.min((mb + 1) * MC);
        let mut r0 = mb * MC;
        while r0 < end {
            let rows = MR.min(end - r0);
            tile(
                kernel,
                &a.data[r0 * kp..],
                wide.get(r0 * kp..).unwrap_or_default(),
                kp,
                rows,
                panel,
                &w.colsum[c0..c0 + cols],
                groups,
                &mut acc,
            );
            sink.tile(r0, rows, c0, cols, &acc);
            r0 += rows;
        }
    };
    if items == 1 || rayon::current_num_threads() == 1 || m * kp * n < PAR_MIN_MACS {
        (0..items).for_each(job);
    } else {
        (0..items).into_par_iter().for_each(job);
    }
    Ok(())
}

/// A raw pointer to an output buffer that tiles write disjoint parts of.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr<T>(pub(crate) *mut T);
// SAFETY: every tile writes its own rows × columns of the buffer (see `product`), so no two
// threads touch the same element, and the buffer outlives the parallel loop.
unsafe impl<T: Send> Send for OutPtr<T> {}
unsafe impl<T: Send> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// Stores the raw i32 sums (for tests).
#[cfg(test)]
struct RawSink {
    out: OutPtr<i32>,
    n: usize,
    len: usize,
}

#[cfg(test)]
impl Sink for RawSink {
    fn tile(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc) {
        for (r, a) in acc.iter().enumerate().take(rows) {
            let start = (r0 + r) * self.n + c0;
            assert!(start + cols <= self.len);
            // SAFETY: in bounds (checked); disjoint per tile (see `OutPtr`).
            let o = unsafe { std::slice::from_raw_parts_mut(self.out.0.add(start), cols) };
            o.copy_from_slice(&a[..cols]);
        }
    }
}

/// Dequantises the sums into f32 outputs and adds the bias.
pub(super) struct DequantSink<'a> {
    pub(super) out: OutPtr<f32>,
    pub(super) n: usize,
    pub(super) len: usize,
    pub(super) a: &'a QuantRows,
    pub(super) w: &'a PackedI8,
    pub(super) bias: Option<&'a [f32]>,
    /// The instruction set to compile the loops for.
    pub(super) kernel: Kernel,
}

impl DequantSink<'_> {
    /// One tile (see [`Sink::tile`]); inlined into builds for each instruction set. The same
    /// IEEE operations in the same order in every build (Rust does not fuse `a * b + c`).
    #[inline(always)]
    fn tile_generic(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc) {
        let ws = &self.w.scale[c0..c0 + cols];
        let cs = &self.w.colsum[c0..c0 + cols];
        for (r, a) in acc.iter().enumerate().take(rows) {
            let row = r0 + r;
            let (sx, zx) = (self.a.scale[row], self.a.zero[row]);
            let start = row * self.n + c0;
            assert!(start + cols <= self.len);
            // SAFETY: in bounds (checked); disjoint per tile (see `OutPtr`).
            let o = unsafe { std::slice::from_raw_parts_mut(self.out.0.add(start), cols) };
            match self.bias {
                Some(b) => {
                    let b = &b[c0..c0 + cols];
                    for ((((o, &acc), &cs), &ws), &b) in o.iter_mut().zip(a).zip(cs).zip(ws).zip(b)
                    {
                        *o = (acc - zx * cs) as f32 * (sx * ws) + b;
                    }
                }
                None => {
                    for (((o, &acc), &cs), &ws) in o.iter_mut().zip(a).zip(cs).zip(ws) {
                        *o = (acc - zx * cs) as f32 * (sx * ws);
                    }
                }
            }
        }
    }
}

impl Sink for DequantSink<'_> {
    fn tile(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc) {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            s: &DequantSink<'_>,
            r0: usize,
            rows: usize,
            c0: usize,
            cols: usize,
            acc: &Acc,
        ) {
            s.tile_generic(r0, rows, c0, cols, acc)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512bw")]
        unsafe fn avx512(
            s: &DequantSink<'_>,
            r0: usize,
            rows: usize,
            c0: usize,
            cols: usize,
            acc: &Acc,
        ) {
            s.tile_generic(r0, rows, c0, cols, acc)
        }
        match self.kernel.isa() {
            Isa::Baseline => self.tile_generic(r0, rows, c0, cols, acc),
            // SAFETY: `isa` is only offered for kernels the CPU runs, so it has the features
            // (see `Kernel::available`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2(self, r0, rows, c0, cols, acc) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512(self, r0, rows, c0, cols, acc) },
        }
    }
}

/// The exact integer product `a @ q^T` (`[m, n]`) with a given kernel: the tests compare every
/// kernel with a plain reference through this.
#[cfg(test)]
fn matmul_i32(kernel: Kernel, a: &QuantRows, w: &PackedI8) -> CResult<Vec<i32>> {
    let mut out = vec![0i32; a.m * w.n];
    let sink = RawSink {
        out: OutPtr(out.as_mut_ptr()),
        n: w.n,
        len: out.len(),
    };
    product(kernel, a, w, &sink)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::tests::Rng;

    /// Odd shapes `(m, k, n)`: K not a multiple of 4/64, M = 1 and M not a multiple of MR, N
    /// not a multiple of 16 or NR, several row blocks (M > MC) and panels.
    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 67, 17),
        (1, 384, 1152),
        (2, 3, 200),
        (7, 130, 70),
        (13, 257, 129),
        (6, 64, 64),
        (MC + 5, 100, 65),
        (2 * MC + 1, 9, 3),
    ];

    fn rows(rng: &mut Rng, m: usize, k: usize) -> QuantRows {
        let kp = k.div_ceil(4) * 4;
        let mut data = vec![0u8; m * kp];
        for r in 0..m {
            for c in 0..k {
                data[r * kp + c] = rng.u8();
            }
        }
        // Extremes on the first row.
        if m > 0 && k > 0 {
            data[0] = 255;
        }
        raw_rows(data, m, kp)
    }

    /// Rows of the given bytes, with scale 1, zero point 0 and no outliers.
    fn raw_rows(data: Vec<u8>, m: usize, kp: usize) -> QuantRows {
        QuantRows {
            data,
            m,
            kp,
            scale: vec![1.0; m],
            zero: vec![0; m],
            outliers: vec![Vec::new(); m],
        }
    }

    #[test]
    fn every_kernel_is_exact_at_the_extremes() {
        // All activations 255 against weights of -128 and 127: the largest products of either
        // sign, summed over a long row (no kernel may saturate a partial sum, as `vpmaddubsw`'s
        // i16 pairs would).
        let (m, k, n) = (MR + 1, 1000usize, NR + 3);
        let kp = k.div_ceil(4) * 4;
        let mut data = vec![0u8; m * kp];
        for r in 0..m {
            data[r * kp..r * kp + k].fill(255);
        }
        let a = raw_rows(data, m, kp);
        let q: Vec<i8> = (0..n * k)
            .map(|i| if (i / k) % 2 == 0 { -128 } else { 127 })
            .collect();
        let w = PackedI8::from_i8(&q, n, k, vec![1.0; n]).unwrap();
        let want: Vec<i32> = (0..m)
            .flat_map(|_| {
                (0..n).map(|j| {
                    if j % 2 == 0 {
                        -128 * 255 * 1000
                    } else {
                        127 * 255 * 1000
                    }
                })
            })
            .collect();
        for kernel in Kernel::available() {
            assert_eq!(matmul_i32(kernel, &a, &w).unwrap(), want, "{kernel:?}");
        }
    }

    #[test]
    fn every_kernel_gives_the_exact_integer_product() {
        let kernels = Kernel::available();
        eprintln!(
            "kernels on this CPU: {kernels:?}; used: {:?}",
            Kernel::fastest()
        );
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for &(m, k, n) in SHAPES {
            let a = rows(&mut rng, m, k);
            let mut q: Vec<i8> = (0..n * k).map(|_| rng.i8()).collect();
            q[0] = -128;
            if q.len() > 1 {
                q[1] = 127;
            }
            let w = PackedI8::from_i8(&q, n, k, vec![1.0; n]).unwrap();
            let want: Vec<i32> = (0..m)
                .flat_map(|r| {
                    let (a, q) = (&a, &q);
                    (0..n).map(move |j| {
                        (0..k)
                            .map(|t| i32::from(a.data[r * a.kp + t]) * i32::from(q[j * k + t]))
                            .sum::<i32>()
                    })
                })
                .collect();
            for &kernel in &kernels {
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let got = pool.install(|| matmul_i32(kernel, &a, &w)).unwrap();
                    assert_eq!(
                        got, want,
                        "{kernel:?}, {threads} threads, shape {m}x{k}x{n}"
                    );
                }
            }
        }
    }
}
