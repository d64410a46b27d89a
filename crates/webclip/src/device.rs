//! Choosing where the model runs: Burn's wgpu backend (Vulkan / Metal / DX12 natively, WebGPU in
//! the browser) or its CPU backend (flex, gemm-based, multi-threaded natively).
//!
//! `auto` takes a real GPU when the system has one and otherwise the CPU backend: a *software*
//! GPU adapter (Mesa's lavapipe / llvmpipe, SwiftShader) runs the same shaders far slower than
//! flex runs the model, so it is only used when asked for explicitly (`gpu`), as the tests do to
//! exercise the GPU code path without a GPU.
//!
//! A wgpu runtime can be initialised once per process, so the first successful initialisation is
//! remembered and shared.
//!
//! Reading results back from a device ([`read_f32`]) lives here too: it is the one way every
//! part of the crate (inference, training, export) gets numbers off the device.

#[cfg(not(target_arch = "wasm32"))]
use std::sync::OnceLock;

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A hardware GPU if there is one, else the CPU backend.
    #[default]
    Auto,
    /// The wgpu backend on whatever adapter wgpu picks (software adapters included); an error
    /// when there is none.
    Gpu,
    /// Burn's CPU backend (flex).
    Cpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;
    /// `auto`, `gpu` (also `wgpu`, and `webgpu` as the npm package says) or `cpu`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "gpu" | "wgpu" | "webgpu" => Ok(DeviceChoice::Gpu),
            "cpu" => Ok(DeviceChoice::Cpu),
            other => Err(Error::InvalidInput(format!("unknown device {other:?} (auto, gpu or webgpu, cpu)"))),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    /// The name [`FromStr`](std::str::FromStr) reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Gpu => "gpu",
            DeviceChoice::Cpu => "cpu",
        })
    }
}

/// Which backend actually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's wgpu backend.
    Wgpu,
    /// Burn's CPU backend (flex).
    Cpu,
}

/// The device in use and how it was chosen.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceInfo {
    pub backend: BackendKind,
    /// Adapter name and graphics API, or "CPU (flex)".
    pub name: String,
    /// Whether the adapter is a software rasteriser (lavapipe, SwiftShader).
    pub software: bool,
    /// Why a fallback happened, when it did.
    pub note: Option<String>,
}

/// The CPU backend.
pub fn cpu_device() -> (Device, DeviceInfo) {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let name = if cfg!(target_arch = "wasm32") {
        "CPU (flex, wasm)".to_string()
    } else {
        format!("CPU (flex, {threads} threads)")
    };
    (Device::flex(), DeviceInfo { backend: BackendKind::Cpu, name, software: false, note: None })
}

#[cfg(not(target_arch = "wasm32"))]
fn wgpu_device() -> Result<(Device, DeviceInfo)> {
    static WGPU: OnceLock<std::result::Result<(Device, DeviceInfo), String>> = OnceLock::new();
    let result = WGPU.get_or_init(|| {
        // wgpu can panic inside some broken driver stacks; that must not take the process down.
        let attempt = std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup());
        match attempt {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                let software = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
                let name = format!("{} ({:?})", info.name, info.backend);
                Ok((device, DeviceInfo { backend: BackendKind::Wgpu, name, software, note: None }))
            }
            Ok(Err(e)) => Err(format!("no usable wgpu adapter: {e}")),
            Err(_) => Err("the wgpu driver stack panicked while creating a device".to_string()),
        }
    });
    result.clone().map_err(Error::Device)
}

/// Opens the device for `choice` (native). See the module docs for what `auto` does.
#[cfg(not(target_arch = "wasm32"))]
pub fn open(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu_device()),
        DeviceChoice::Gpu => wgpu_device(),
        DeviceChoice::Auto => match wgpu_device() {
            Ok((d, info)) if !info.software => Ok((d, info)),
            Ok((_, info)) => {
                let (d, mut cpu) = cpu_device();
                cpu.note = Some(format!("only a software GPU was found ({}); using the CPU backend", info.name));
                Ok((d, cpu))
            }
            Err(e) => {
                let (d, mut cpu) = cpu_device();
                cpu.note = Some(format!("{e}; using the CPU backend"));
                Ok((d, cpu))
            }
        },
    }
}

/// Opens the device for `choice` in the browser: WebGPU needs an asynchronous adapter request.
#[cfg(target_arch = "wasm32")]
pub async fn open_async(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    if choice == DeviceChoice::Cpu {
        return Ok(cpu_device());
    }
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            let software = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
            // Browsers may hide the adapter's name (SwiftShader's is empty in Chromium).
            let name = if info.name.is_empty() {
                format!("WebGPU ({:?}{})", info.device_type, if software { ", software" } else { "" })
            } else {
                info.name
            };
            Ok((device, DeviceInfo { backend: BackendKind::Wgpu, name, software, note: None }))
        }
        // wgpu's error names internal types ("No adapter available for WgpuDevice { … }"); the
        // user needs to know only that the browser offered no adapter.
        Err(_) if choice == DeviceChoice::Auto => {
            let (d, mut cpu) = cpu_device();
            cpu.note = Some("this browser offers no WebGPU adapter; running on the CPU".into());
            Ok((d, cpu))
        }
        Err(e) => Err(Error::Device(format!(
            "WebGPU is not available: the browser offers no adapter (is WebGPU enabled?) [{e}]"
        ))),
    }
}

/// Reads a float tensor back to the host as f32, whatever its dtype. Async because that is the
/// only way that works in a browser (a synchronous read panics there); native callers block on
/// it. A failed read is an error, never an empty or partial result.
pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let n = t.shape().num_elements();
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::Device(format!("reading results from the device failed: {e:?}")))?;
    let values = data
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::Device(format!("unexpected tensor data from the device: {e:?}")))?;
    if values.len() != n {
        return Err(Error::Device(format!("the device returned {} values for a tensor of {n}", values.len())));
    }
    Ok(values)
}

/// [`read_f32`] of a one-element tensor (a loss, the temperature).
pub async fn read_scalar(t: Tensor<1>) -> Result<f32> {
    read_f32(t).await?.first().copied().ok_or_else(|| Error::Device("the device returned an empty tensor".into()))
}
