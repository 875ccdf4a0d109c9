//! The kernels' interfaces as the host sees them: each kernel module's group-0 bindings as a
//! struct with one field per `@binding` variable of `shaders/*.wgsl`, same names, so the Rust
//! and the WGSL read side by side. The tests parse the WGSL and hold the binding tables, the
//! entry points and the `#[repr(C)]` twins of the WGSL structs to it.

/// How a kernel reads a binding: `var<uniform>`, `var<storage, read>`, `var<storage, read_write>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Uniform,
    Read,
    ReadWrite,
}

impl Access {
    pub fn buffer_type(self) -> wgpu::BufferBindingType {
        match self {
            Access::Uniform => wgpu::BufferBindingType::Uniform,
            Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
            Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
        }
    }
}

/// One `@group(0) @binding(number) var<access> name` of a kernel module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub number: u32,
    pub name: &'static str,
    pub access: Access,
}

/// A kernel module's group 0: `struct Name<T>` with one `T` per binding (a buffer, or its size)
/// and `const TABLE: &[Binding]`, both from one list written like the WGSL declarations, so
/// the struct and the table cannot disagree.
macro_rules! binding_set {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<T>, table $table:ident {
            $($number:literal => $field:ident: $access:ident,)*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name<T> {
            $(pub $field: T,)*
        }

        #[doc = concat!("The bindings of [`", stringify!($name), "`], in binding order.")]
        $vis const $table: &[$crate::gpu::layout::Binding] = &[$(
            $crate::gpu::layout::Binding {
                number: $number,
                name: stringify!($field),
                access: $crate::gpu::layout::Access::$access,
            },
        )*];

        // Not every set uses every helper.
        #[allow(dead_code)]
        impl<T> $name<T> {
            /// Every field with its binding, in binding order.
            pub fn iter(&self) -> impl Iterator<Item = ($crate::gpu::layout::Binding, &T)> {
                $table.iter().copied().zip([$(&self.$field,)*])
            }

            pub fn map<U>(
                &self,
                mut f: impl FnMut($crate::gpu::layout::Binding, &T) -> U,
            ) -> $name<U> {
                $name {
                    $($field: f(
                        $crate::gpu::layout::Binding {
                            number: $number,
                            name: stringify!($field),
                            access: $crate::gpu::layout::Access::$access,
                        },
                        &self.$field,
                    ),)*
                }
            }

            pub fn zip<U>(self, other: $name<U>) -> $name<(T, U)> {
                $name {
                    $($field: (self.$field, other.$field),)*
                }
            }
        }
    };
}

pub(crate) use binding_set;

#[cfg(test)]
mod tests;
