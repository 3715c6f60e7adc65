// Tensor bundles, the binary form browser training moves arrays in (docs/browser-training.md):
// a little-endian uint32 n, n bytes of UTF-8 JSON [{name, shape, dtype}], then each tensor's
// little-endian values in that order, and nothing after them. The server's half is
// trainer/browser.py (encode_bundle, decode_bundle).

// Values are copied as bytes in the host's order: every browser's host (x86, ARM) is little-endian.
const ARRAYS = { float32: Float32Array, int32: Int32Array };

export class BundleError extends Error {}

const count = (shape) => shape.reduce((n, d) => n * d, 1);

/** Returns the bundle of `tensors` ([{name, shape, dtype: "float32" | "int32", values}], values a
 * typed array or a plain array of numbers) as an ArrayBuffer. */
export function encodeBundle(tensors) {
  const specs = tensors.map(({ name, shape, dtype }) => {
    if (!ARRAYS[dtype]) throw new BundleError(`Tensor ${name}: dtype must be float32 or int32, not ${dtype}.`);
    return { name, shape: [...shape], dtype };
  });
  const header = new TextEncoder().encode(JSON.stringify(specs));
  const sizes = tensors.map(({ name, shape, values }) => {
    if (values.length !== count(shape)) {
      throw new BundleError(`Tensor ${name}: ${values.length} values for shape [${shape}].`);
    }
    return values.length * 4;
  });
  const buffer = new ArrayBuffer(4 + header.length + sizes.reduce((a, b) => a + b, 0));
  const view = new DataView(buffer);
  view.setUint32(0, header.length, true);
  new Uint8Array(buffer, 4, header.length).set(header);
  let offset = 4 + header.length;
  tensors.forEach(({ dtype, values }, i) => {
    const typed = values instanceof ARRAYS[dtype] ? values : ARRAYS[dtype].from(values);
    new Uint8Array(buffer, offset, sizes[i]).set(new Uint8Array(typed.buffer, typed.byteOffset, sizes[i]));
    offset += sizes[i];
  });
  return buffer;
}

/** Returns the tensors of a bundle (an ArrayBuffer) as [{name, shape, dtype, values}], values a
 * Float32Array or Int32Array; throws a BundleError saying what is wrong with a truncated or
 * malformed one, or one with bytes after its last tensor. */
export function decodeBundle(buffer) {
  if (buffer.byteLength < 4) throw new BundleError(`A tensor bundle of ${buffer.byteLength} bytes has no header length.`);
  const view = new DataView(buffer);
  const length = view.getUint32(0, true);
  if (4 + length > buffer.byteLength) {
    throw new BundleError(`The header says it is ${length} bytes; only ${buffer.byteLength - 4} follow.`);
  }
  let specs;
  try {
    specs = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(buffer, 4, length)));
  } catch (error) {
    throw new BundleError(`The header is not JSON: ${error.message}`);
  }
  if (!Array.isArray(specs)) throw new BundleError("The header is not a list of {name, shape, dtype}.");
  let offset = 4 + length;
  const tensors = specs.map(({ name, shape, dtype }) => {
    const Array_ = ARRAYS[dtype];
    if (!Array_ || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new BundleError(`Tensor ${name}: dtype must be float32 or int32 and the shape a list of sizes.`);
    }
    const size = count(shape) * 4;
    if (offset + size > buffer.byteLength) {
      throw new BundleError(`Tensor ${name} needs ${size} bytes; only ${buffer.byteLength - offset} are left.`);
    }
    const values = new Array_(count(shape));
    new Uint8Array(values.buffer).set(new Uint8Array(buffer, offset, size));
    offset += size;
    return { name, shape, dtype, values };
  });
  if (offset !== buffer.byteLength) throw new BundleError(`${buffer.byteLength - offset} bytes follow the last tensor.`);
  return tensors;
}
