//! Hand-made ONNX graphs for the error paths of the ONNX backends.

/// A minimal ONNX model whose input is `input_name` (f32 `[1]`) and whose output `bar` is an
/// Identity of it: a graph no embedding backend can map. Encoded by hand (protobuf).
pub fn identity_onnx(input_name: &str) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    fn field_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
        varint(((field as u64) << 3) | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    fn field_varint(field: u32, v: u64, out: &mut Vec<u8>) {
        varint((field as u64) << 3, out);
        varint(v, out);
    }
    fn value_info(name: &str) -> Vec<u8> {
        let mut dim = Vec::new();
        field_varint(1, 1, &mut dim); // dim_value 1
        let mut shape = Vec::new();
        field_bytes(1, &dim, &mut shape);
        let mut tensor = Vec::new();
        field_varint(1, 1, &mut tensor); // elem_type FLOAT
        field_bytes(2, &shape, &mut tensor);
        let mut ty = Vec::new();
        field_bytes(1, &tensor, &mut ty);
        let mut vi = Vec::new();
        field_bytes(1, name.as_bytes(), &mut vi);
        field_bytes(2, &ty, &mut vi);
        vi
    }
    let mut node = Vec::new();
    field_bytes(1, input_name.as_bytes(), &mut node);
    field_bytes(2, b"bar", &mut node);
    field_bytes(4, b"Identity", &mut node);
    let mut graph = Vec::new();
    field_bytes(1, &node, &mut graph);
    field_bytes(2, b"g", &mut graph);
    field_bytes(11, &value_info(input_name), &mut graph);
    field_bytes(12, &value_info("bar"), &mut graph);
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 17, &mut opset);
    let mut model = Vec::new();
    field_varint(1, 8, &mut model); // ir_version
    field_bytes(7, &graph, &mut model);
    field_bytes(8, &opset, &mut model);
    model
}
