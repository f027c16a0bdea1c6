//! Priors: the coefficients a datasheet projection uses, fitted from published measurements
//! (`data/corpus/`, fitted by `capsim priors --write`) per engine family, GPU generation,
//! weight-format family and dense/MoE, each with the spread of what the corpus implied.
//!
//! Assumption: an engine's efficiencies against the datasheet depend on these four things and
//! not on the particular GPU; the spread across GPUs and models of a group is the uncertainty
//! of a prediction for a GPU the corpus does not have. A group with too few rows falls back to
//! a coarser one (engine and format; engine; everything).

use super::kernels::{EngineFamily, FormatFamily};
use super::Coefficients;
use crate::hardware::Arch;
use serde::{Deserialize, Serialize};

/// The fitted table shipped in the binary.
const FITTED: &str = include_str!("../../data/priors/fitted.json");

/// One group's fitted values and their spreads (standard deviations of the natural log of
/// the values the group's rows implied).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    /// vllm | llamacpp; null = any.
    pub family: Option<String>,
    /// datacenter | client (when `arch` is not fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub arch: Option<String>,
    pub format: Option<String>,
    pub moe: Option<bool>,
    /// Corpus rows and GPUs behind it.
    pub rows: usize,
    pub gpus: Vec<String>,
    pub bw_efficiency: f64,
    pub bw_spread: f64,
    pub flops_efficiency: f64,
    pub flops_spread: f64,
    pub per_layer_ms: f64,
    pub per_seq_ms: f64,
    /// Bandwidth efficiency of multi-token steps relative to single-token decode.
    pub batch_factor: f64,
    pub batch_spread: f64,
    pub overhead_ms: f64,
    /// The API server's work per request, ms.
    pub request_ms: f64,
    /// The group the compute efficiency came from, when not this one (see
    /// [`PriorTable::lookup`]); not part of the table.
    #[serde(skip)]
    pub compute_from: Option<String>,
}

/// What a scenario asks a prior for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PriorKey {
    pub family: EngineFamily,
    pub arch: Arch,
    pub format: FormatFamily,
    pub moe: bool,
}

impl Prior {
    /// The group in words: "llamacpp / ampere / gguf / dense".
    pub fn label(&self) -> String {
        [
            self.family.clone().unwrap_or_else(|| "any engine".into()),
            self.arch
                .clone()
                .or_else(|| self.class.as_ref().map(|c| format!("{c} GPUs")))
                .unwrap_or_else(|| "any GPU".into()),
            self.format.clone().unwrap_or_else(|| "any format".into()),
            match self.moe {
                Some(true) => "MoE".into(),
                Some(false) => "dense".into(),
                None => "dense or MoE".into(),
            },
        ]
        .join(" / ")
            + &self
                .compute_from
                .as_ref()
                .map(|g| format!(", compute efficiency from {g}"))
                .unwrap_or_default()
    }

    /// The coefficients this prior gives (step noise at its default).
    pub fn coefficients(&self) -> Coefficients {
        Coefficients {
            overhead_s: self.overhead_ms / 1e3,
            per_layer_s: self.per_layer_ms / 1e3,
            per_seq_s: self.per_seq_ms / 1e3,
            bw_efficiency: self.bw_efficiency,
            batch_bw_factor: self.batch_factor,
            flops_efficiency: self.flops_efficiency,
            ..Coefficients::datasheet_defaults()
        }
    }
}

/// The fitted table: groups from most to least specific.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorTable {
    /// How it was made (command, corpus rows used).
    pub fitted_by: String,
    pub groups: Vec<Prior>,
}

impl PriorTable {
    /// The table compiled in from data/priors/fitted.json, parsed once per process (every
    /// scenario resolution without a measured profile looks it up).
    pub fn shipped() -> &'static PriorTable {
        static TABLE: std::sync::LazyLock<PriorTable> = std::sync::LazyLock::new(|| {
            serde_json::from_str(FITTED).expect("data/priors/fitted.json is a prior table")
        });
        &TABLE
    }

    /// The group for `key`, in the order the fit builds them: the GPU's generation (with the
    /// format, and with and without dense/MoE), its class (datacenter or client), then any
    /// GPU; the family's own group, or a table-wide one, last. For vLLM, a group that mixes
    /// dense and MoE rows lends everything but its compute efficiency: that comes from the
    /// first group of the key's own kind (a MoE's prefill runs grouped expert GEMMs, a dense
    /// model's the ordinary ones, which differ more than the formats' kernels, which the cost
    /// model knows), as the fit does (`study::priors`).
    pub fn lookup(&self, key: &PriorKey) -> Option<Prior> {
        let found = self.lookup_where(key, |_| true)?;
        let mut p = found.clone();
        if found.moe.is_some() || key.family != EngineFamily::Vllm {
            return Some(p);
        }
        if let Some(own) = self.lookup_where(key, |g| g.moe == Some(key.moe)) {
            p.flops_efficiency = own.flops_efficiency;
            p.flops_spread = own.flops_spread;
            p.compute_from = Some(own.label());
        }
        Some(p)
    }

    /// The first group in lookup order that `keep` accepts.
    fn lookup_where(&self, key: &PriorKey, keep: impl Fn(&Prior) -> bool) -> Option<&Prior> {
        let arch = Some(key.arch.name());
        let class = Some(key.arch.class());
        let fmt = Some(key.format.name());
        let moe = Some(key.moe);
        type Level<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<bool>,
        );
        let order: [Level; 10] = [
            (arch, None, fmt, moe),
            (arch, None, fmt, None),
            (None, class, fmt, moe),
            (None, class, fmt, None),
            (None, class, None, moe),
            (None, class, None, None),
            (None, None, fmt, moe),
            (None, None, fmt, None),
            (None, None, None, moe),
            (None, None, None, None),
        ];
        let family = Some(key.family.name());
        order
            .iter()
            .find_map(|(a, c, f, m)| {
                self.groups.iter().find(|p| {
                    p.family.as_deref() == family
                        && p.arch.as_deref() == *a
                        && p.class.as_deref() == *c
                        && p.format.as_deref() == *f
                        && p.moe == *m
                        && keep(p)
                })
            })
            .or_else(|| self.groups.iter().find(|p| p.family.is_none() && keep(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_mixing_dense_and_moe_lends_no_compute_efficiency() {
        let group = |moe: Option<bool>, flops: f64, bw: f64| Prior {
            family: Some("vllm".into()),
            class: None,
            arch: None,
            format: moe.map_or(Some("4-bit".into()), |_| None),
            moe,
            rows: 4,
            gpus: vec!["h100-sxm".into()],
            bw_efficiency: bw,
            bw_spread: 0.1,
            flops_efficiency: flops,
            flops_spread: 0.1,
            per_layer_ms: 0.0,
            per_seq_ms: 0.0,
            batch_factor: 1.0,
            batch_spread: 0.3,
            overhead_ms: 1.0,
            request_ms: 2.0,
            compute_from: None,
        };
        // "any GPU / 4-bit / dense or MoE" (fitted from MoE rows) comes before "any GPU /
        // any format / dense" in lookup order.
        let t = PriorTable {
            fitted_by: "test".into(),
            groups: vec![
                group(None, 0.2, 0.5),
                group(Some(false), 0.45, 0.7),
                group(Some(true), 0.25, 0.6),
            ],
        };
        let key = |moe| PriorKey {
            family: EngineFamily::Vllm,
            arch: Arch::Hopper,
            format: FormatFamily::Four,
            moe,
        };
        let dense = t.lookup(&key(false)).unwrap();
        assert_eq!(dense.bw_efficiency, 0.5, "the 4-bit group's bandwidth");
        assert_eq!(dense.flops_efficiency, 0.45, "a dense group's compute");
        assert!(
            dense
                .label()
                .ends_with("compute efficiency from vllm / any GPU / any format / dense"),
            "{}",
            dense.label()
        );
        assert_eq!(t.lookup(&key(true)).unwrap().flops_efficiency, 0.25);
    }

    #[test]
    fn the_shipped_table_covers_every_key() {
        let t = PriorTable::shipped();
        for family in [EngineFamily::Vllm, EngineFamily::LlamaCpp] {
            for arch in [
                Arch::Turing,
                Arch::AmpereDc,
                Arch::Ampere,
                Arch::Hopper,
                Arch::Unknown,
            ] {
                for format in [FormatFamily::Float, FormatFamily::Four, FormatFamily::Gguf] {
                    for moe in [false, true] {
                        let key = PriorKey {
                            family,
                            arch,
                            format,
                            moe,
                        };
                        let p = t.lookup(&key).expect("a group for every key");
                        assert!(p.bw_efficiency > 0.0 && p.bw_efficiency <= 1.2, "{p:?}");
                    }
                }
            }
        }
    }
}
