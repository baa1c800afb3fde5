//! Run-time choice among versions of a function compiled for different CPU
//! features.
//!
//! Contract: [`by_cpu!`] calls the first listed version whose target
//! features the CPU has, checked at run time (x86-64 only; elsewhere, and
//! when none fits, the portable version). Each listed version must be a
//! function whose `#[target_feature]`s are exactly the features listed with
//! it, with no other safety condition: the macro calls it only once every
//! one of them is detected.
//!
//! The hot loops use it the same way throughout: a portable
//! `#[inline(always)]` body (`foo_any`), one-line wrappers that compile it
//! for wider vectors (`#[target_feature(enable = "avx2")] unsafe fn
//! foo_avx2(..) { foo_any(..) }`), and the function callers use, which
//! picks among them.

/// Calls the first version whose features the CPU has, else the portable
/// one (see the [module docs](self)):
///
/// ```ignore
/// by_cpu!(
///     ["avx512f", "avx512vl"] => fill_avx512(out),
///     ["avx2"] => fill_avx2(out);
///     fill_any(out)
/// )
/// ```
macro_rules! by_cpu {
    ($([$($feature:tt),+] => $version:expr),+ ; $portable:expr $(,)?) => {{
        #[cfg(target_arch = "x86_64")]
        let chosen = 'found: {
            $(
                if $(::std::arch::is_x86_feature_detected!($feature))&&+ {
                    // SAFETY: the CPU has every feature listed with this
                    // version (checked just above): the target features it
                    // enables, its only safety condition (the contract of
                    // `by_cpu!`).
                    break 'found Some(unsafe { $version });
                }
            )+
            None
        };
        #[cfg(not(target_arch = "x86_64"))]
        let chosen = None;
        match chosen {
            Some(v) => v,
            None => $portable,
        }
    }};
}
pub(crate) use by_cpu;
