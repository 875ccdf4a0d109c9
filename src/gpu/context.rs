//! The wgpu device: adapter choice (hardware first; software only when forced), limits,
//! small helpers for buffers, layouts and readback, and every error the GPU backend raises.

use std::borrow::Borrow;
use std::fmt::Display;

use wgpu::util::DeviceExt;

use super::layout::Binding;
use crate::error::{CheckError, GpuError, MbaError, Result};

// Every `MbaError` of `src/gpu` is built by one of these, so the error type can change here alone.

pub(crate) fn no_adapter(allow_software: bool) -> MbaError {
    MbaError::Gpu(GpuError::NoAdapter(if allow_software {
        "no wgpu adapter found (no Vulkan/Metal/DX12 driver; install mesa-vulkan-drivers for \
         lavapipe)"
            .into()
    } else {
        "no hardware GPU adapter found".into()
    }))
}

pub(crate) fn request_device_failed(adapter: &str, e: impl Display) -> MbaError {
    MbaError::Gpu(GpuError::Device {
        adapter: adapter.into(),
        reason: e.to_string(),
    })
}

/// `stage` = `poll`, `map` or `mapped range`.
pub(crate) fn readback_failed(stage: &'static str, e: impl Display) -> MbaError {
    MbaError::Gpu(GpuError::Readback {
        stage,
        reason: e.to_string(),
    })
}

/// A thread panicked while holding a kernel's cached buffers.
pub(crate) fn poisoned() -> MbaError {
    MbaError::Gpu(GpuError::Poisoned("kernel's cached buffers"))
}

pub(crate) fn malformed_job() -> MbaError {
    MbaError::Gpu(GpuError::MalformedJob(
        "empty offsets, or blocks without devices".into(),
    ))
}

/// The f64 CPU greedy that redoes a trial the checker rejected failed itself.
pub(crate) fn greedy_fallback_failed(source: CheckError) -> MbaError {
    MbaError::Check {
        method: "greedy",
        source,
    }
}

/// An open device and what the kernels need to know about it.
pub struct GpuContext {
    pub info: wgpu::AdapterInfo,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    /// Whether kernel times come from timestamp queries.
    pub timestamps: bool,
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// A software rasterizer (lavapipe, llvmpipe, SwiftShader, WARP) rather than a GPU.
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || ["llvmpipe", "lavapipe", "swiftshader", "software", "warp"]
            .iter()
            .any(|s| name.contains(s))
}

fn adapters() -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    let instance = wgpu::Instance::new(desc);
    let mut list = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    // Vulkan/Metal/DX12 only: GL adapters have weak compute, and probing them prints noise.
    // Compute needs storage buffers in compute shaders.
    list.retain(|a| a.limits().max_storage_buffers_per_shader_stage >= 8);
    list.sort_by_key(|a| {
        (
            is_software(&a.get_info()) as u8,
            rank(a.get_info().device_type),
        )
    });
    list
}

/// The name of the hardware adapter `--backend auto` would use, if any.
pub fn hardware_adapter() -> Option<String> {
    adapters()
        .into_iter()
        .map(|a| a.get_info())
        .find(|i| !is_software(i))
        .map(|i| i.name)
}

impl GpuContext {
    /// Open the best adapter; a software one only when `allow_software`.
    pub fn new(allow_software: bool) -> Result<Self> {
        let adapter = adapters()
            .into_iter()
            .find(|a| allow_software || !is_software(&a.get_info()))
            .ok_or_else(|| no_adapter(allow_software))?;
        let info = adapter.get_info();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("mba"),
            required_features: if timestamps {
                wgpu::Features::TIMESTAMP_QUERY
            } else {
                wgpu::Features::empty()
            },
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| request_device_failed(&info.name, e))?;
        Ok(GpuContext {
            info,
            device,
            queue,
            limits,
            timestamps,
        })
    }

    pub fn shader(&self, label: &str, source: &str) -> wgpu::ShaderModule {
        self.device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
    }

    /// The bind group layout of a binding table (visible to compute only).
    pub fn layout(&self, bindings: &[Binding]) -> wgpu::BindGroupLayout {
        let entries: Vec<_> = bindings
            .iter()
            .map(|b| wgpu::BindGroupLayoutEntry {
                binding: b.number,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: b.access.buffer_type(),
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        self.device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: None,
                entries: &entries,
            })
    }

    /// A bind group of whole buffers, each at its binding's number.
    pub fn bind_group<'a, B: Borrow<wgpu::Buffer> + 'a>(
        &self,
        layout: &wgpu::BindGroupLayout,
        buffers: impl IntoIterator<Item = (Binding, &'a B)>,
    ) -> wgpu::BindGroup {
        let entries: Vec<_> = buffers
            .into_iter()
            .map(|(b, buf)| wgpu::BindGroupEntry {
                binding: b.number,
                resource: buf.borrow().as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout,
            entries: &entries,
        })
    }

    pub fn pipeline(
        &self,
        layout: &wgpu::BindGroupLayout,
        module: &wgpu::ShaderModule,
        entry: &str,
    ) -> wgpu::ComputePipeline {
        let pl = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
        self.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pl),
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
    }

    /// A storage buffer with initial contents (at least 4 bytes: empty arrays still bind).
    pub fn storage_init(&self, data: &[u8]) -> wgpu::Buffer {
        let mut bytes = data.to_vec();
        bytes.resize(bytes.len().max(16).next_multiple_of(4), 0);
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: &bytes,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            })
    }

    /// A uniform buffer of `size` bytes, written before each dispatch.
    pub fn uniform(&self, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub fn storage(&self, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: size.max(16).next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    pub fn readback(&self, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: size.max(16).next_multiple_of(16),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Map `size` bytes of a readback buffer once submission `after` is done (later ones may
    /// still run), and copy them out.
    pub fn read(
        &self,
        buf: &wgpu::Buffer,
        size: u64,
        after: &wgpu::SubmissionIndex,
    ) -> Result<Vec<u8>> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let slice = buf.slice(..size);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(after.clone()),
                timeout: None,
            })
            .map_err(|e| readback_failed("poll", e))?;
        rx.recv()
            .map_err(|e| readback_failed("map", e))?
            .map_err(|e| readback_failed("map", e))?;
        let bytes = slice
            .get_mapped_range()
            .map_err(|e| readback_failed("mapped range", e))?
            .to_vec();
        buf.unmap();
        Ok(bytes)
    }

    /// Workgroups `(x, y)` of 64 invocations covering `n` items, and the `x` stride in items.
    pub fn grid(&self, n: u32) -> (u32, u32, u32) {
        let groups = n.div_ceil(64).max(1);
        let x = groups.min(self.limits.max_compute_workgroups_per_dimension);
        (x, groups.div_ceil(x), x * 64)
    }

    /// The largest storage binding, in bytes, capped so chunks stay a sensible size.
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
            .min(256 << 20)
    }
}
