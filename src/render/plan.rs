//! What `plan` prints: the answer per sweep point, the binding SLO and its margin, notes.

use crate::study::plan::PlanResult;

/// The plan's text for people.
pub fn text(results: &[PlanResult], seeds: u32, seconds: f64) -> String {
    let mut human = String::new();
    for result in results {
        if results.len() > 1 || !result.point.is_empty() {
            human.push_str(&format!("point {}: ", result.point.label()));
        }
        match &result.answer {
            Some(a) => human.push_str(&format!(
                "{}: {a} ({} = {:+.1}% from its limit; binding SLO)\n",
                result.find,
                result.binding.map_or("-", |m| m.name()),
                result.margin_pct.unwrap_or(f64::NAN) + 0.0
            )),
            None => human.push_str(&format!(
                "{}: no value meets {}\n",
                result.find,
                result.slo.join(", ")
            )),
        }
        for n in &result.notes {
            human.push_str(&format!("note: {n}\n"));
        }
    }
    let candidates: usize = results.iter().map(|r| r.evaluated.len()).sum();
    human.push_str(&format!(
        "{candidates} candidates simulated at {} seed(s) each in {seconds:.2} s\n",
        seeds.max(1),
    ));
    human
}
