//! `device = "cpu" | "cuda"`: where a model trains and answers, falling back to the CPU with a
//! logged line when CUDA is asked for and libtorch sees none.

use serde::{Deserialize, Serialize};
use tch::Device;

/// The device a params object asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda,
}

impl DeviceChoice {
    /// The device to use for `task`: the first CUDA device when asked for and present, else the
    /// CPU (saying so on stderr, which the host's log collects, when CUDA was asked for).
    pub fn resolve(self, task: &str) -> Device {
        match self {
            Self::Cpu => Device::Cpu,
            Self::Cuda if tch::Cuda::is_available() => Device::Cuda(0),
            Self::Cuda => {
                eprintln!(
                    "WARN agora-model-torch: {task} asked for device = \"cuda\", but libtorch sees no usable CUDA \
                     device (no GPU here, or a plugin linked to libtorch's CPU library only, as scripts/setup-torch.sh \
                     builds it); running on the CPU"
                );
                Device::Cpu
            }
        }
    }
}

/// A device's name as snapshots and `describe` report it.
pub fn name(device: Device) -> String {
    match device {
        Device::Cuda(index) => format!("cuda:{index}"),
        _ => "cpu".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_the_default_and_cuda_falls_back_when_absent() {
        let choice: DeviceChoice = serde_json::from_str("\"cuda\"").unwrap();
        assert_eq!(choice, DeviceChoice::Cuda);
        assert!(serde_json::from_str::<DeviceChoice>("\"tpu\"").unwrap_err().to_string().contains("unknown variant `tpu`"));
        assert_eq!(DeviceChoice::default().resolve("test"), Device::Cpu);
        let expected = if tch::Cuda::is_available() { Device::Cuda(0) } else { Device::Cpu };
        assert_eq!(DeviceChoice::Cuda.resolve("test"), expected);
        assert_eq!(name(Device::Cpu), "cpu");
    }
}
