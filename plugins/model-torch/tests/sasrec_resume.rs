//! `rec.sasrec` checkpoints, in a process of its own: a fit resumed from the checkpoint of an epoch
//! (after a kill, or after a `stop_after`) carries on where it stopped and ends with the model the
//! uninterrupted fit made. Its own process because exactness needs libtorch's global generator and
//! thread count to itself: a fit holds the generator for its draws, but another model's `load`
//! (initial weights) or a `threads` setting elsewhere in the process can still change what the
//! fit computes.

use agora_model_torch::{TorchModels, TASK_SASREC};
use agora_plugin_api::model::{ModelPlugin, Training};

mod walks;

use walks::{interactions_with_twins, scores};

/// Fits with a checkpoint sink, from `resume` when given; the snapshot, the checkpoints written and
/// the first progress report.
fn fit_with_checkpoints(data: &[u8], params: &[u8], resume: Option<&[u8]>) -> (Vec<u8>, Vec<Vec<u8>>, Option<u64>) {
    let (mut checkpoints, mut first_report) = (Vec::new(), None);
    let training = Training {
        resume,
        progress: &mut |done, _| {
            first_report.get_or_insert(done);
        },
        checkpoint: &mut |bytes| checkpoints.push(bytes.to_vec()),
    };
    let snapshot = TorchModels::fit_resuming(TASK_SASREC, data, params, training).unwrap();
    (snapshot, checkpoints, first_report)
}

#[test]
fn a_fit_resumed_from_a_checkpoint_ends_where_the_whole_fit_does() {
    let data = interactions_with_twins().encode();
    let params =
        br#"{"hidden":16,"heads":2,"pretrain_epochs":1,"epochs":3,"batch_size":64,"lr":0.005,"dropout":0.1,"threads":1,"fusion":"gated"}"#;
    let steps_per_epoch = 240u64.div_ceil(64);
    let (whole, checkpoints, first) = fit_with_checkpoints(&data, params, None);
    // One checkpoint after each epoch but the last; the first report is the first step.
    assert_eq!((checkpoints.len(), first), (3, Some(1)));

    // Killed after epoch 2 (pretraining, then one epoch of fine-tuning): carry on from there.
    let (resumed, later, first) = fit_with_checkpoints(&data, params, Some(&checkpoints[1]));
    assert_eq!(first, Some(2 * steps_per_epoch), "the resumed fit starts after the checkpointed epochs");
    assert_eq!(later.len(), 1);
    let (whole, resumed) = (TorchModels::load(TASK_SASREC, &whole).unwrap(), TorchModels::load(TASK_SASREC, &resumed).unwrap());
    let describe =
        |model: &TorchModels| -> serde_json::Value { serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap() };
    assert_eq!(describe(&resumed)["training_loss"].as_array().unwrap().len(), 3);
    for history in [&[3u32, 4, 5][..], &[7, 6, 5], &[0]] {
        let (a, b) = (scores(&whole, history), scores(&resumed, history));
        let gap = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(gap < 1e-5, "history {history:?}: scores differ by {gap}");
    }

    // A fit stopped after epoch 2 returns the network then and a checkpoint to carry on from;
    // the fit resuming it without `stop_after` ends with the uninterrupted fit's model.
    let stopped_params = br#"{"hidden":16,"heads":2,"pretrain_epochs":1,"epochs":3,"batch_size":64,"lr":0.005,"dropout":0.1,"threads":1,"fusion":"gated","stop_after":2}"#;
    let (stopped, stop_checkpoints, _) = fit_with_checkpoints(&data, stopped_params, None);
    assert_eq!(stop_checkpoints.len(), 2, "a checkpoint after each epoch run, the stopping one included");
    let stopped = TorchModels::load(TASK_SASREC, &stopped).unwrap();
    assert_eq!(describe(&stopped)["training_loss"].as_array().unwrap().len(), 1, "pretraining, then one of 3 epochs");
    let (carried_on, _, first) = fit_with_checkpoints(&data, params, Some(&stop_checkpoints[1]));
    assert_eq!(first, Some(2 * steps_per_epoch));
    let carried_on = TorchModels::load(TASK_SASREC, &carried_on).unwrap();
    for history in [&[3u32, 4, 5][..], &[7, 6, 5]] {
        let (a, b) = (scores(&whole, history), scores(&carried_on, history));
        let gap = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(gap < 1e-5, "history {history:?}: scores differ by {gap} after stopping and carrying on");
    }
    let training = Training { resume: Some(&stop_checkpoints[1]), progress: &mut |_, _| {}, checkpoint: &mut |_| {} };
    let error = TorchModels::fit_resuming(TASK_SASREC, &data, stopped_params, training).unwrap_err();
    assert!(error.contains("asks for no more epochs than the checkpoint"), "{error}");

    // A checkpoint is only taken for the fit that wrote it.
    let other =
        br#"{"hidden":16,"heads":2,"pretrain_epochs":1,"epochs":4,"batch_size":64,"lr":0.005,"dropout":0.1,"threads":1,"fusion":"gated"}"#;
    let training = Training { resume: Some(&checkpoints[1]), progress: &mut |_, _| {}, checkpoint: &mut |_| {} };
    let error = TorchModels::fit_resuming(TASK_SASREC, &data, other, training).unwrap_err();
    assert!(error.contains("checkpoint to resume from was written with other params"), "{error}");
}
