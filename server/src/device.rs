//! `--device`: where the per-block focus solve runs. Every device computes the same bits, so this
//! is a node's own choice, never consensus.

use anyhow::{Context, Result};
use kernels::{Cuda, Device};
use serde::Deserialize;

/// The device asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DeviceChoice {
    /// The first GPU when one can be used (said in the log), else the CPU (with the reason).
    #[default]
    Auto,
    /// The CPU's cores.
    Cpu,
    /// The first GPU; no GPU is an error.
    Cuda,
}

/// Opens the device `choice` names; CUDA compiles and loads the kernels here.
pub(crate) fn open(choice: DeviceChoice) -> Result<Device> {
    let device = match choice {
        DeviceChoice::Cpu => Device::Cpu,
        DeviceChoice::Cuda => Device::gpu(Cuda::new(0).context("--device cuda")?),
        DeviceChoice::Auto => match Cuda::new(0) {
            Ok(gpu) => Device::gpu(gpu),
            Err(why) => {
                tracing::info!(%why, "no GPU to use; focus solves on the CPU");
                Device::Cpu
            }
        },
    };
    tracing::info!(device = %device.describe(), "focus device");
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_always_there_and_auto_falls_back_to_it() {
        assert!(matches!(open(DeviceChoice::Cpu).unwrap(), Device::Cpu));
        match Cuda::new(0) {
            Ok(_) => assert!(matches!(open(DeviceChoice::Auto).unwrap(), Device::Cuda(_))),
            Err(why) => {
                assert!(matches!(open(DeviceChoice::Auto).unwrap(), Device::Cpu));
                let error = open(DeviceChoice::Cuda).unwrap_err();
                assert_eq!(format!("{error:#}"), format!("--device cuda: {why}"));
            }
        }
    }
}
