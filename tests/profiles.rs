//! Shipped profiles are consistent: their efficiencies follow from their measured step model
//! and the scenario's datasheet, and projecting one to another GPU keeps them and says so.

use capsim::calibrate;
use capsim::cost::Profile;
use capsim::spec;
use capsim::study::simulate::simulate;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_gpu_profile_efficiencies_follow_from_its_step_model() {
    let profile = Profile::load(&root().join("calibration/h100-llamacpp-cuda.json")).unwrap();
    let sc = spec::load(&root().join("scenarios/h100-llamacpp-validation.toml"), &[])
        .unwrap()
        .remove(0);
    let derived =
        calibrate::efficiencies(profile.step.as_ref().unwrap(), &profile.step_stderr, &sc);
    let stored = profile.coefficients.as_ref().unwrap();
    eprintln!("derived {derived:?}");
    for (d, s) in [
        (derived.bw_efficiency.value, stored.bw_efficiency.value),
        (
            derived.flops_efficiency.value,
            stored.flops_efficiency.value,
        ),
        (derived.per_seq_ms.value, stored.per_seq_ms.value),
    ] {
        assert!((d / s - 1.0).abs() < 1e-3, "derived {d} vs stored {s}");
    }
}

#[test]
fn projection_keeps_efficiencies_and_marks_provenance() {
    let profile = Profile::load(&root().join("calibration/h100-llamacpp-cuda.json")).unwrap();
    let h200 = capsim::hardware::lookup("h200").unwrap();
    let p = calibrate::project(&profile, &h200).unwrap();
    assert_eq!(p.provenance.kind, "projected");
    assert_eq!(p.measured_on.hardware.as_deref(), Some("h200"));
    assert!(
        p.step.is_none(),
        "the measured step model belongs to the H100"
    );
    assert_eq!(p.coefficients, profile.coefficients);
    // A scenario on the H200 with the original profile projects too, and says so.
    let text = std::fs::read_to_string(root().join("scenarios/h100-llamacpp-validation.toml"))
        .unwrap()
        .replace("gpu = \"h100-sxm\"", "gpu = \"h200\"");
    let sc = spec::from_str(&text, &root().join("scenarios/x.toml"), &[])
        .unwrap()
        .remove(0);
    assert!(
        sc.cost_source
            .contains("projected from capsim-gpu-llama on h100-sxm to capsim-gpu-llama on h200"),
        "{}",
        sc.cost_source
    );
    let h100 = spec::load(&root().join("scenarios/h100-llamacpp-validation.toml"), &[])
        .unwrap()
        .remove(0);
    let (fast, slow) = (simulate(&sc).summary, simulate(&h100).summary);
    assert!(
        fast.mean_tpot_ms < slow.mean_tpot_ms,
        "more bandwidth, faster decode"
    );
}
