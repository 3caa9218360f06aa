//! AdamW (Loshchilov & Hutter 2019) over a VarStore's variables, with moments that can be saved
//! in a checkpoint and restored, so that a resumed fit takes the same steps as an uninterrupted one.

use std::collections::BTreeMap;

use tch::{nn, Tensor};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// The optimiser: each trainable variable with its first and second moment.
pub struct AdamW {
    variables: Vec<(String, Tensor)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    steps: i64,
    weight_decay: f64,
}

impl AdamW {
    /// Fresh moments for every trainable variable of `vs`.
    pub fn new(vs: &nn::VarStore, weight_decay: f64) -> Self {
        let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        let zeros = || variables.iter().map(|(_, t)| t.zeros_like()).collect();
        Self { first: zeros(), second: zeros(), variables, steps: 0, weight_decay }
    }

    /// Back-propagates `loss` and takes one step at learning rate `lr`.
    pub fn step(&mut self, loss: &Tensor, lr: f64) {
        for (_, variable) in &mut self.variables {
            variable.zero_grad();
        }
        loss.backward();
        self.steps += 1;
        let first_correction = 1.0 - BETA1.powi(self.steps as i32);
        let second_correction = 1.0 - BETA2.powi(self.steps as i32);
        tch::no_grad(|| {
            for (((_, variable), first), second) in self.variables.iter_mut().zip(&mut self.first).zip(&mut self.second) {
                let gradient = variable.grad();
                if !gradient.defined() {
                    continue;
                }
                if self.weight_decay > 0.0 {
                    let decayed = &*variable * (1.0 - lr * self.weight_decay);
                    variable.copy_(&decayed);
                }
                first.copy_(&(&*first * BETA1 + &gradient * (1.0 - BETA1)));
                second.copy_(&(&*second * BETA2 + (&gradient * &gradient) * (1.0 - BETA2)));
                let update = (&*first / first_correction) / ((&*second / second_correction).sqrt() + EPSILON) * lr;
                let stepped = &*variable - update;
                variable.copy_(&stepped);
            }
        });
    }

    /// Steps taken so far.
    pub fn steps(&self) -> i64 {
        self.steps
    }

    /// The moments by name (`first/<variable>`, `second/<variable>`), for a checkpoint.
    pub fn moments(&self) -> Vec<(String, Tensor)> {
        let named = |prefix: &str, moments: &[Tensor]| -> Vec<(String, Tensor)> {
            self.variables.iter().zip(moments).map(|((name, _), m)| (format!("{prefix}/{name}"), m.shallow_clone())).collect()
        };
        let mut moments = named("first", &self.first);
        moments.extend(named("second", &self.second));
        moments
    }

    /// Restores the moments [`moments`](Self::moments) gave and the step count.
    ///
    /// # Errors
    /// A moment missing from `stored` or in another shape than its variable.
    pub fn restore(&mut self, stored: &BTreeMap<String, Tensor>, steps: i64) -> Result<(), String> {
        for (prefix, moments) in [("first", &mut self.first), ("second", &mut self.second)] {
            for ((name, _), moment) in self.variables.iter().zip(moments.iter_mut()) {
                let key = format!("{prefix}/{name}");
                let value = stored.get(&key).ok_or(format!("checkpoint lacks optimiser moment {key}"))?;
                if value.size() != moment.size() {
                    return Err(format!("checkpoint moment {key} has shape {:?}, the network {:?}", value.size(), moment.size()));
                }
                tch::no_grad(|| moment.copy_(&value.to_device(moment.device())));
            }
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::OptimizerConfig, Device, Kind};

    /// The same steps as libtorch's own AdamW.
    #[test]
    fn steps_match_libtorchs_adamw() {
        let build = || {
            let vs = nn::VarStore::new(Device::Cpu);
            let weight = vs.root().var("w", &[3], nn::Init::Const(0.5));
            (vs, weight)
        };
        let target = Tensor::from_slice(&[1.0f32, -2.0, 3.0]);
        let (ours_vs, ours_w) = build();
        let mut ours = AdamW::new(&ours_vs, 0.01);
        let (theirs_vs, theirs_w) = build();
        let mut theirs = nn::AdamW::default().wd(0.01).build(&theirs_vs, 0.1).unwrap();
        for step in 0..20 {
            let lr = 0.1 / f64::from(step + 1);
            ours.step(&(&ours_w - &target).square().sum(Kind::Float), lr);
            theirs.set_lr(lr);
            theirs.backward_step(&(&theirs_w - &target).square().sum(Kind::Float));
        }
        let gap = (&ours_w - &theirs_w).abs().max().double_value(&[]);
        assert!(gap < 1e-5, "{gap}");
        assert_eq!(ours.steps(), 20);
        assert_eq!(ours.moments().len(), 2);
    }
}
