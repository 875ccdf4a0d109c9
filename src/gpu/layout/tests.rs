//! The Rust side of each kernel module against its WGSL source: binding tables, entry points,
//! the layouts of the shared structs, and the twins' names. A small parser of the WGSL subset
//! the shaders use (one declaration per line, no nested generics beyond `array<T, N>`).

use std::mem::{offset_of, size_of};

use super::{Access, Binding};
use crate::gpu::greedy::{GREEDY_BINDINGS, GREEDY_ENTRY_POINTS, GREEDY_WGSL, GreedyParams};
use crate::gpu::pack::{Dev, Segment};
use crate::gpu::power::{POWER_BINDINGS, POWER_ENTRY_POINTS, POWER_WGSL, PowerParams};
use crate::gpu::reduce::{REDUCE_BINDINGS, REDUCE_ENTRY_POINTS, REDUCE_WGSL, ReduceParams};
use crate::gpu::twins::reduce::{Span, Stat};

const COMMON_WGSL: &str = include_str!("../../../shaders/common.wgsl");

fn strip_comments(src: &str) -> String {
    src.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `@group(0) @binding(n) var<space[, access]> name: type;` as `(n, name, access)`.
fn wgsl_bindings(src: &str) -> Vec<(u32, String, Access)> {
    let src = strip_comments(src);
    let decls: Vec<&str> = src.lines().filter(|l| l.contains("@binding(")).collect();
    decls
        .iter()
        .map(|line| {
            let rest = line
                .trim()
                .strip_prefix("@group(0) @binding(")
                .unwrap_or_else(|| panic!("not in group 0: {line}"));
            let (number, rest) = rest.split_once(')').expect("@binding(n)");
            let rest = rest.trim().strip_prefix("var<").expect("var<...>");
            let (space, rest) = rest.split_once('>').expect("var<...>");
            let access = match space.replace(' ', "").as_str() {
                "uniform" => Access::Uniform,
                "storage" | "storage,read" => Access::Read,
                "storage,read_write" => Access::ReadWrite,
                other => panic!("address space {other} in {line}"),
            };
            let name = rest.split(':').next().expect("name: type").trim();
            (
                number.parse().expect("binding number"),
                name.to_string(),
                access,
            )
        })
        .collect()
}

/// The names of the `@compute` functions, in source order.
fn wgsl_entry_points(src: &str) -> Vec<String> {
    let src = strip_comments(src);
    src.split("@compute")
        .skip(1)
        .map(|rest| ident_after(rest, "fn ").expect("fn after @compute"))
        .collect()
}

/// The names of all functions.
fn wgsl_functions(src: &str) -> Vec<String> {
    strip_comments(src)
        .lines()
        .filter_map(|l| ident_after(l.trim_start().strip_prefix("fn ")?, ""))
        .collect()
}

fn ident_after(s: &str, prefix: &str) -> Option<String> {
    let rest = &s[s.find(prefix)? + prefix.len()..];
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(rest[..end].to_string())
}

/// The `(name, type)` fields of `struct name { ... }`.
fn wgsl_struct(src: &str, name: &str) -> Vec<(String, String)> {
    let src = strip_comments(src);
    let head = format!("struct {name} {{");
    let body = &src[src
        .find(&head)
        .unwrap_or_else(|| panic!("no struct {name}"))
        + head.len()..];
    let body = &body[..body.find('}').expect("closing brace")];
    let mut fields = Vec::new();
    let (mut depth, mut field) = (0, String::new());
    for c in body.chars().chain([',']) {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            if let Some((n, t)) = field.split_once(':') {
                fields.push((n.trim().to_string(), t.trim().to_string()));
            }
            field.clear();
        } else {
            field.push(c);
        }
    }
    fields
}

/// A WGSL type's size, alignment and scalar components (host-shareable layout rules).
fn wgsl_type(src: &str, ty: &str) -> (usize, usize, Vec<String>) {
    let ty = ty.replace(' ', "");
    if let Some(inner) = ty.strip_prefix("array<").and_then(|t| t.strip_suffix('>')) {
        let (elem, n) = inner.rsplit_once(',').expect("sized array");
        let n: usize = n.parse().expect("array length");
        let (size, align, scalars) = wgsl_type(src, elem);
        assert_eq!(size % align, 0, "array<{elem}> has a padded stride");
        return (
            size * n,
            align,
            (0..n).flat_map(|_| scalars.clone()).collect(),
        );
    }
    for (prefix, n, size, align) in [
        ("vec2<", 2, 8, 8),
        ("vec3<", 3, 12, 16),
        ("vec4<", 4, 16, 16),
    ] {
        if let Some(elem) = ty.strip_prefix(prefix).and_then(|t| t.strip_suffix('>')) {
            return (size, align, vec![elem.to_string(); n]);
        }
    }
    if ["u32", "i32", "f32"].contains(&ty.as_str()) {
        return (4, 4, vec![ty]);
    }
    let layout = wgsl_struct_layout(src, &ty);
    (
        layout.size,
        layout.align,
        layout.fields.into_iter().flat_map(|f| f.scalars).collect(),
    )
}

/// One field: name, byte offset, scalar components in order.
#[derive(Debug, PartialEq)]
struct Field {
    name: String,
    offset: usize,
    scalars: Vec<String>,
}

struct StructLayout {
    fields: Vec<Field>,
    size: usize,
    align: usize,
}

fn wgsl_struct_layout(src: &str, name: &str) -> StructLayout {
    let (mut offset, mut align) = (0usize, 1usize);
    let mut fields = Vec::new();
    for (field, ty) in wgsl_struct(src, name) {
        let (size, a, scalars) = wgsl_type(src, &ty);
        offset = offset.next_multiple_of(a);
        align = align.max(a);
        fields.push(Field {
            name: field,
            offset,
            scalars,
        });
        offset += size;
    }
    StructLayout {
        fields,
        size: offset.next_multiple_of(align),
        align,
    }
}

/// A Rust field type's scalar components: `u32`, or `[u32; 8]`.
fn rust_scalars(ty: &str) -> Vec<String> {
    match ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => {
            let (elem, n) = inner.split_once(';').expect("[T; N]");
            vec![elem.trim().to_string(); n.trim().parse().expect("array length")]
        }
        None => vec![ty.to_string()],
    }
}

/// The fields of a Rust struct as listed, each checked to have the listed type.
macro_rules! rust_fields {
    ($t:ty { $($f:ident: $ft:ty),* $(,)? }) => {
        vec![$({
            let _same_type: fn(&$t) -> &$ft = |s| &s.$f;
            Field {
                name: stringify!($f).to_string(),
                offset: offset_of!($t, $f),
                scalars: rust_scalars(stringify!($ft)),
            }
        }),*]
    };
}

/// The Rust struct has the WGSL struct's fields (names, order, types, offsets) and size; a
/// uniform's size is rounded up to 16 bytes.
fn assert_same_layout(src: &str, wgsl_name: &str, uniform: bool, rust: Vec<Field>, size: usize) {
    let layout = wgsl_struct_layout(src, wgsl_name);
    assert_eq!(rust, layout.fields, "{wgsl_name}: fields");
    let want = if uniform {
        layout.size.next_multiple_of(16)
    } else {
        layout.size
    };
    assert_eq!(size, want, "{wgsl_name}: size");
}

#[test]
fn power_params_match_wgsl() {
    let rust = rust_fields!(PowerParams {
        total: u32,
        n_segments: u32,
        kstride: u32,
        fixed_mode: u32,
        c: f32,
        n0: f32,
        energy: f32,
        path_loss: f32,
        fixed_power: f32,
        x_stride: u32,
        budget: f32,
        pad: u32,
    });
    let size = size_of::<PowerParams>();
    assert_same_layout(POWER_WGSL, "PowerParams", true, rust, size);
}

#[test]
fn power_segment_matches_wgsl() {
    let rust = rust_fields!(Segment {
        key: [u32; 8],
        stream_lo: u32,
        stream_hi: u32,
        devices: u32,
        block_start: u32,
        n_blocks: u32,
        per_model: u32,
        start: u32,
        count: u32,
    });
    assert_same_layout(POWER_WGSL, "Segment", false, rust, size_of::<Segment>());
}

#[test]
fn reduce_structs_match_wgsl() {
    let rust = rust_fields!(ReduceParams {
        n_tiles: u32,
        n_spans: u32,
        x_groups: u32,
        pad: u32,
    });
    let size = size_of::<ReduceParams>();
    assert_same_layout(REDUCE_WGSL, "ReduceParams", true, rust, size);
    let rust = rust_fields!(Span {
        start: u32,
        count: u32,
        first_tile: u32,
        tiles: u32,
    });
    assert_same_layout(REDUCE_WGSL, "Span", false, rust, size_of::<Span>());
    let rust = rust_fields!(Stat {
        served: u32,
        mean: f32,
        m2: f32,
    });
    assert_same_layout(REDUCE_WGSL, "Stat", false, rust, size_of::<Stat>());
}

/// The twins' constants are the shader's.
#[test]
fn reduce_constants_match_wgsl() {
    use crate::gpu::twins::reduce::{SCHEMES, TILE};
    let src = strip_comments(REDUCE_WGSL);
    assert!(src.contains(&format!("const TILE: u32 = {TILE}u;")));
    assert!(src.contains(&format!("const SCHEMES: u32 = {SCHEMES}u;")));
    assert!(src.contains(&format!("@workgroup_size({TILE})")));
    assert!(src.contains(&format!("array<Stat, {}>", TILE * SCHEMES)));
}

#[test]
fn greedy_params_match_wgsl() {
    let rust = rust_fields!(GreedyParams {
        models: u32,
        blocks: u32,
        total_devices: u32,
        trials: u32,
        min_loss: u32,
        words: u32,
        x_stride: u32,
        phys_off: u32,
        trial_off: u32,
        allowed_off: u32,
        visit_off: u32,
        rows_stride: u32,
    });
    let size = size_of::<GreedyParams>();
    assert_same_layout(GREEDY_WGSL, "GreedyParams", true, rust, size);
}

#[test]
fn greedy_dev_matches_wgsl() {
    let rust = rust_fields!(Dev {
        task: u32,
        qos: f32,
        trial: u32,
        pad: u32,
    });
    assert_same_layout(GREEDY_WGSL, "Dev", false, rust, size_of::<Dev>());
}

fn assert_bindings(src: &str, table: &[Binding], module: &str) {
    let rust: Vec<_> = table
        .iter()
        .map(|b| (b.number, b.name.to_string(), b.access))
        .collect();
    assert_eq!(rust, wgsl_bindings(src), "{module}: bindings");
}

#[test]
fn binding_tables_match_wgsl() {
    assert_bindings(POWER_WGSL, POWER_BINDINGS, "power.wgsl");
    assert_bindings(REDUCE_WGSL, REDUCE_BINDINGS, "reduce.wgsl");
    assert_bindings(GREEDY_WGSL, GREEDY_BINDINGS, "greedy.wgsl");
    assert!(
        wgsl_bindings(COMMON_WGSL).is_empty(),
        "common.wgsl binds nothing"
    );
}

#[test]
fn entry_points_match_wgsl() {
    assert_eq!(POWER_ENTRY_POINTS.to_vec(), wgsl_entry_points(POWER_WGSL));
    assert_eq!(REDUCE_ENTRY_POINTS.to_vec(), wgsl_entry_points(REDUCE_WGSL));
    assert_eq!(GREEDY_ENTRY_POINTS.to_vec(), wgsl_entry_points(GREEDY_WGSL));
}

/// Each twin module's public functions are functions of its shader file (vello's convention).
#[test]
fn twins_are_named_after_wgsl_functions() {
    for (file, rust, wgsl) in [
        ("common", include_str!("../twins/common.rs"), COMMON_WGSL),
        (
            "power",
            include_str!("../twins/power.rs"),
            include_str!("../../../shaders/power.wgsl"),
        ),
        ("reduce", include_str!("../twins/reduce.rs"), REDUCE_WGSL),
        ("greedy", include_str!("../twins/greedy.rs"), GREEDY_WGSL),
    ] {
        let wgsl = wgsl_functions(wgsl);
        let twins: Vec<String> = rust
            .lines()
            .filter_map(|l| ident_after(l.strip_prefix("pub fn ")?, ""))
            .collect();
        assert!(!twins.is_empty(), "twins/{file}.rs: no public functions");
        for name in twins {
            assert!(
                wgsl.contains(&name),
                "twins/{file}.rs: `{name}` is not a function of shaders/{file}.wgsl"
            );
        }
    }
}

/// The parser itself, on the layout rules the shaders do not exercise.
#[test]
fn wgsl_layout_rules() {
    let src = "struct Key { k: array<u32, 8>, }\n\
               struct S {\n a: f32, // a comment, with a comma\n b: vec2<f32>,\n c: u32,\n \
               d: vec4<f32>,\n e: Key,\n}";
    let layout = wgsl_struct_layout(src, "S");
    let offsets: Vec<usize> = layout.fields.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, [0, 8, 16, 32, 48]);
    assert_eq!((layout.size, layout.align), (80, 16));
    assert_eq!(layout.fields[4].scalars, vec!["u32"; 8]);
    assert_eq!(rust_scalars("[f32; 2]"), ["f32", "f32"]);
}
