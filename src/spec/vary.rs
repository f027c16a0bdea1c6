//! Variations of a resolved spec: what `plan` searches over (replicas, rate, concurrency,
//! prompt length, seed) and what `validate` replays (a recorded run's workload), applied to
//! the resolved spec so no file (model, profile, trace) is read again per candidate. Each
//! variation makes the checks resolution makes for the key it changes.

use super::workload::resolve_workload;
use super::{engine, toml_to_json, Spec};
use crate::error::{InputError, InputResult};
use crate::metrics::Point;
use crate::workload::{Arrival, LengthDist};
use std::path::Path;

impl Spec {
    /// The same point costed with `prior`'s coefficients (as a datasheet projection with that
    /// prior would be): what the priors' fit and cross-validation simulate.
    pub fn with_prior(&self, prior: &crate::cost::priors::Prior) -> Spec {
        let mut s = self.with_coefficients(prior.coefficients(), prior.request_ms / 1e3);
        s.prior = Some(prior.clone());
        s.cost_source = format!("datasheet projection with the prior for {}", prior.label());
        s
    }

    /// The same point costed with these coefficients and API-server time per request (the
    /// engine's physics kept: kernels, parallelism, eager launches, streaming cost).
    pub fn with_coefficients(&self, mut c: crate::cost::Coefficients, request_s: f64) -> Spec {
        if self.enforce_eager {
            c.per_layer_s += crate::cost::physics::VLLM_EAGER_LAUNCH_PER_LAYER_S;
        }
        let mut physics = self.cost.physics.clone();
        if physics.frontend != crate::cost::Frontend::NONE {
            physics.frontend.request_s = request_s;
        }
        Spec {
            cost: crate::cost::CostModel::new(
                &self.model,
                self.weight_dtype,
                self.kv_dtype,
                &self.device,
                c,
                physics,
            ),
            cost_uncertainty: Default::default(),
            prior: None,
            ..self.clone()
        }
    }

    fn set_table(&mut self, key: &str, value: serde_json::Value) {
        if let serde_json::Value::Object(t) = &mut self.workload_table {
            t.insert(key.into(), value);
        }
    }

    /// With `n` replicas.
    pub fn with_replicas(&self, n: u32) -> InputResult<Spec> {
        if n == 0 || n > 65_535 {
            return Err(InputError::new(
                "cluster.replicas",
                format!("must be 1..65535 (got {n})"),
            ));
        }
        Ok(Spec {
            replicas: n,
            ..self.clone()
        })
    }

    /// With the main workload's open-loop rate set to `rate` requests/s.
    pub fn with_rate(&self, rate: f64) -> InputResult<Spec> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(InputError::new(
                "workload.rate",
                format!("must be a positive number (got {rate})"),
            ));
        }
        let mut s = self.clone();
        match &mut s.workload.arrival {
            Arrival::Open { process, .. } => *process = process.with_rate(rate),
            _ => {
                return Err(InputError::new(
                    "workload.rate",
                    "applies to open-loop arrivals (poisson, gamma, constant)",
                ))
            }
        }
        s.set_table("rate", rate.into());
        Ok(s)
    }

    /// With `c` closed-loop users (open loop and traces: a concurrency cap of `c`).
    pub fn with_concurrency(&self, c: u32) -> InputResult<Spec> {
        if c == 0 {
            return Err(InputError::new(
                "workload.concurrency",
                "must be at least 1",
            ));
        }
        let mut s = self.clone();
        match &mut s.workload.arrival {
            Arrival::Closed { users, .. } => *users = c,
            Arrival::Open { cap, .. } | Arrival::Trace { cap, .. } => *cap = Some(c),
        }
        s.set_table("concurrency", c.into());
        Ok(s)
    }

    /// With every main-workload prompt `n` tokens long (refused where the engine would refuse
    /// such requests).
    pub fn with_input_tokens(&self, n: u32) -> InputResult<Spec> {
        if n == 0 || n > LengthDist::MAX_TOKENS {
            return Err(InputError::new(
                "workload.input_tokens",
                format!("must be 1..{} tokens (got {n})", LengthDist::MAX_TOKENS),
            ));
        }
        let mut s = self.clone();
        s.workload.input_tokens = LengthDist::fixed(n);
        engine::check_request_fits(&s.engine, &s.workload)?;
        s.set_table("input_tokens", n.into());
        Ok(s)
    }

    /// With every class's seed moved by `offset` (independent draws of the same workload).
    pub fn with_seed_offset(&self, offset: u64) -> Spec {
        let mut s = self.clone();
        s.workload.seed = s.workload.seed.wrapping_add(offset);
        for c in &mut s.workload.classes {
            c.seed = c.seed.wrapping_add(offset);
        }
        let seed = s.workload.seed;
        s.set_table("seed", (seed as i64).into());
        s
    }

    /// With the workload a `[workload]` table describes (a recorded run's), at `point`; the
    /// table's relative paths resolve against the scenario's folder.
    pub fn with_workload_table(&self, table: toml::Table, point: Point) -> InputResult<Spec> {
        let json = toml_to_json(&toml::Value::Table(table.clone()));
        let section: super::file::WorkloadSection =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                InputError::new(
                    format!("workload.{}", e.path()),
                    e.into_inner().message().to_string(),
                )
            })?;
        let base = self.file.parent().unwrap_or(Path::new("."));
        let workload = resolve_workload(&section, base)?;
        engine::check_request_fits(&self.engine, &workload)?;
        Ok(Spec {
            workload,
            workload_table: json,
            point,
            ..self.clone()
        })
    }
}
