//! List the wgpu adapters this machine offers (a probe for GPU hosts).
fn main() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    println!("{} adapter(s)", adapters.len());
    for a in adapters {
        let i = a.get_info();
        println!("{:?} {:?} {} | driver {} {}", i.backend, i.device_type, i.name, i.driver, i.driver_info);
        let l = a.limits();
        println!("  max_storage_buffer_binding_size {} max_buffer_size {} timestamp {}", l.max_storage_buffer_binding_size, l.max_buffer_size, a.features().contains(wgpu::Features::TIMESTAMP_QUERY));
    }
}
